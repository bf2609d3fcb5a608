"""Validating and applying an instance import file (YAML or JSON), all or nothing."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction

from instances.audit import record_instance_change
from instances.engines import engine_for
from instances.models import (
    Engine,
    Instance,
    SslMode,
    Status,
    Team,
    Tier,
)
from instances.secrets import Purpose, SecretUnavailable, open_password
from instances.validation import describe, short, validate_password_text

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
MAX_FILE_BYTES = 5 * 1024 * 1024
KNOWN_FIELDS = {
    "name", "engine", "tier", "team", "host", "port", "username", "password",
    "database", "sslmode", "tls", "ca_cert", "status",
}  # fmt: skip
# Checked by the model (field validators and Instance.clean()), like every form that saves.
MODEL_CHECKED = ["team", "password_sealed", "uid"]


class ImportFileError(Exception):
    """The file is unreadable or a record is invalid; the message names record and field."""


@dataclass
class InstanceRecord:
    index: int
    name: str
    team: str
    fields: dict[str, Any]
    password: str | None = None


class _NoAliasLoader(yaml.SafeLoader):
    """Refuses anchors and aliases while composing, before anything is expanded: a few
    hundred bytes of nested aliases stand for gigabytes."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            mark = event.start_mark
            raise ImportFileError(
                f"YAML anchors and aliases (& and *) are not accepted "
                f"(line {mark.line + 1}, column {mark.column + 1}); write each value out"
            )
        return super().compose_node(parent, index)


def load_file(path: Path) -> list[dict[str, Any]]:
    try:
        # Read at most one byte past the limit: a pipe or /dev/zero has no honest size.
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise ImportFileError(f"{path}: the file is larger than 5 MiB, the most accepted")
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFileError(f"{path}: cannot read the file ({exc})") from None
    try:
        data = _parse(path, text)
    except ImportFileError as exc:
        raise ImportFileError(f"{path}: {exc}") from None
    if isinstance(data, dict) and "instances" in data:
        data = data["instances"]
    if not isinstance(data, list):
        raise ImportFileError(f"{path}: expected a list of instances or a mapping with 'instances'")
    return data


def _parse(path: Path, text: str) -> Any:
    try:
        if path.suffix == ".json":
            return json.loads(text)
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader
    except json.JSONDecodeError as exc:
        raise ImportFileError(f"not valid JSON: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ImportFileError(f"not valid YAML{where}: {short(problem)}") from None
    except RecursionError:
        raise ImportFileError("nested too deeply to be an instance file") from None
    except ValueError:
        # Python refuses integers of more than 4300 digits (int_max_str_digits).
        raise ImportFileError("holds a number too long to read") from None


def parse_records(raw_records: list[Any]) -> list[InstanceRecord]:
    records: list[InstanceRecord] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_records, start=1):
        record = parse_record(index, raw)
        if record.name in seen:
            raise ImportFileError(f"record {index} ({record.name}): field 'name': appears twice")
        seen.add(record.name)
        records.append(record)
    return records


def parse_record(index: int, raw: Any) -> InstanceRecord:
    if not isinstance(raw, dict):
        raise ImportFileError(f"record {index}: expected a mapping of fields, got {describe(raw)}")
    name_shown = raw.get("name") if isinstance(raw.get("name"), str) else None
    label = f"record {index}" + (f" ({short(name_shown)})" if name_shown else "")

    def fail(name: str, message: str) -> ImportFileError:
        return ImportFileError(f"{label}: field '{name}': {message}")

    unknown = sorted(
        short(key) if isinstance(key, str) else describe(key)
        for key in raw
        if key not in KNOWN_FIELDS
    )
    if unknown:
        raise fail(unknown[0], "unknown field")
    name = _text(raw, "name", fail)
    if not SLUG.match(name):
        raise fail("name", "must be a slug: lowercase letters, digits and hyphens, 1-63 long")
    fields = _fields(raw, fail)
    password = raw.get("password")
    if password is not None and (not isinstance(password, str) or password == ""):
        raise fail("password", "must be a non-empty string")
    team = _text(raw, "team", fail, None, 100)
    candidate = Instance(name=name, **fields)
    _model_checks(candidate, fail, exclude=MODEL_CHECKED)
    fields["ca_cert"] = candidate.ca_cert
    _model_checks(Team(name=team), lambda _, message: fail("team", message), exclude=[])
    if password is not None:
        try:
            validate_password_text(password)
        except ValidationError as error:
            raise fail("password", error.messages[0]) from None
    return InstanceRecord(index=index, name=name, team=team, fields=fields, password=password)


def _fields(raw: dict[str, Any], fail: Callable[[str, str], ImportFileError]) -> dict[str, Any]:
    engine = _choice(raw, "engine", Engine.values, fail)
    facts = engine_for(engine)
    postgres = facts.has_database  # PostgreSQL-style: a database and an sslmode
    fields: dict[str, Any] = {
        "engine": engine,
        "tier": _choice(raw, "tier", Tier.values, fail),
        "host": _text(raw, "host", fail),
        "port": _port(raw, fail, facts.default_port),
        "username": _text(raw, "username", fail, facts.default_username, 63),
        "status": _choice(raw, "status", Status.values, fail, Status.ACTIVE),
        "ca_cert": _ca_cert(raw, fail),
    }
    if postgres:
        fields["database"] = _text(raw, "database", fail, None, 63)
        fields["sslmode"] = _choice(raw, "sslmode", SslMode.values, fail, SslMode.REQUIRE)
        fields["tls"] = True
        if "tls" in raw:
            raise fail("tls", "is for Valkey; PostgreSQL uses 'sslmode'")
    else:
        for pg_only in ("database", "sslmode"):
            if pg_only in raw:
                raise fail(pg_only, "is for PostgreSQL only")
        fields["database"] = ""
        fields["tls"] = _bool(raw, "tls", fail, True)
    return fields


def _model_checks(obj: Instance | Team, fail, *, exclude: list[str]) -> None:
    """The model's own validators and clean() (what every form runs); ca_cert comes back
    re-serialised as certificates only."""
    try:
        obj.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise fail("name" if field == NON_FIELD_ERRORS else field, messages[0]) from None


def _text(raw, name, fail, default=None, max_length=253) -> str:
    value = raw.get(name, default)
    if value is None:
        raise fail(name, "is required")
    if not isinstance(value, str) or not value.strip():
        raise fail(name, f"must be a non-empty string, got {describe(value)}")
    if len(value) > max_length:
        raise fail(name, f"must be at most {max_length} characters")
    if any(ch.isspace() for ch in value) and name != "team":
        raise fail(name, "must not contain spaces")
    return value.strip()


def _choice(raw, name, choices, fail, default=None) -> str:
    value = raw.get(name, default)
    if value is None:
        raise fail(name, f"is required (one of {', '.join(choices)})")
    if not isinstance(value, str) or value not in choices:
        raise fail(name, f"must be one of {', '.join(choices)}, got {describe(value)}")
    return value


def _port(raw, fail, default: int) -> int:
    port = raw.get("port", default)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise fail("port", f"must be a whole number from 1 to 65535, got {describe(port)}")
    return port


def _bool(raw, name, fail, default: bool) -> bool:
    value = raw.get(name, default)
    if not isinstance(value, bool):
        raise fail(name, f"must be true or false, got {describe(value)}")
    return value


def _ca_cert(raw, fail) -> str:
    pem = raw.get("ca_cert")
    if pem in (None, ""):
        return ""
    if not isinstance(pem, str):
        raise fail("ca_cert", f"must be PEM text, got {describe(pem)}")
    return pem


@dataclass
class ImportResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    teams_created: list[str] = field(default_factory=list)


def apply_records(
    records: list[InstanceRecord], *, dry_run: bool, actor_name: str = ""
) -> ImportResult:
    """Upsert by name inside one transaction; a dry run rolls everything back. Changes of
    where a password goes (host, port, team, TLS settings) are audited as `actor_name`."""
    result = ImportResult()
    with transaction.atomic():
        existing = {i.name: i for i in Instance.objects.filter(name__in=[r.name for r in records])}
        teams = {t.name: t for t in Team.objects.filter(name__in={r.team for r in records})}
        for record in records:
            if record.team not in teams:
                teams[record.team] = Team.objects.create(name=record.team)
                result.teams_created.append(record.team)
            _upsert(record, existing.get(record.name), teams[record.team], result, actor_name)
        if dry_run:
            transaction.set_rollback(True)
    return result


def _same_password(instance: Instance, password: str) -> bool:
    try:
        return open_password(instance, Purpose.IMPORT) == password
    except SecretUnavailable:
        return False  # replaced by the file's password


def _upsert(
    record: InstanceRecord, instance: Instance | None, team: Team, result, actor_name: str
) -> None:
    if instance is None:
        if record.password is None:
            raise ImportFileError(
                f"record {record.index} ({record.name}): field 'password': "
                "is required for a new instance"
            )
        instance = Instance(name=record.name, team=team, **record.fields)
        instance.set_password(record.password)
        instance.save()
        result.created.append(record.name)
        return
    changed = [k for k, v in record.fields.items() if getattr(instance, k) != v]
    if instance.team_id != team.pk:
        changed.append("team")
    if record.password is not None and not _same_password(instance, record.password):
        changed.append("password")
        instance.set_password(record.password)
    if not changed:
        result.unchanged.append(record.name)
        return
    before = Instance.objects.select_related("team").get(pk=instance.pk)
    for key, value in record.fields.items():
        setattr(instance, key, value)
    instance.team = team
    instance.save()
    record_instance_change(before, instance, actor_name=actor_name, via="import_instances")
    result.updated.append(record.name)
