"""Validating and applying an instance import file (YAML or JSON), all or nothing."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from django.db import transaction

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

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.?)+$")
IPV6 = re.compile(r"^[0-9A-Fa-f:.]+$")
KNOWN_FIELDS = {
    "name", "engine", "tier", "team", "host", "port", "username", "password",
    "database", "sslmode", "tls", "ca_cert", "status",
}  # fmt: skip


class ImportFileError(Exception):
    """The file is unreadable or a record is invalid; the message names record and field."""


@dataclass
class InstanceRecord:
    index: int
    name: str
    team: str
    fields: dict[str, Any]
    password: str | None = None


def load_file(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFileError(f"{path}: cannot read the file ({exc})") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError(f"{path}: not valid JSON: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ImportFileError(f"{path}: not valid YAML{where}: {problem}") from None
    if isinstance(data, dict) and "instances" in data:
        data = data["instances"]
    if not isinstance(data, list):
        raise ImportFileError(f"{path}: expected a list of instances or a mapping with 'instances'")
    return data


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
        raise ImportFileError(f"record {index}: expected a mapping of fields")
    label = f"record {index}" + (f" ({raw['name']})" if isinstance(raw.get("name"), str) else "")

    def fail(name: str, message: str) -> ImportFileError:
        return ImportFileError(f"{label}: field '{name}': {message}")

    unknown = sorted(set(raw) - KNOWN_FIELDS)
    if unknown:
        raise fail(unknown[0], "unknown field")
    name = _text(raw, "name", fail)
    if not SLUG.match(name):
        raise fail("name", "must be a slug: lowercase letters, digits and hyphens, 1-63 long")
    engine = _choice(raw, "engine", Engine.values, fail)
    facts = engine_for(engine)
    postgres = facts.has_database  # PostgreSQL-style: a database and an sslmode
    fields: dict[str, Any] = {
        "engine": engine,
        "tier": _choice(raw, "tier", Tier.values, fail),
        "host": _host(raw, fail),
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
    password = raw.get("password")
    if password is not None and (not isinstance(password, str) or password == ""):
        raise fail("password", "must be a non-empty string")
    if password is not None and ("\n" in password or "\r" in password or "\0" in password):
        raise fail("password", "must not contain line breaks or NUL characters")
    team = _text(raw, "team", fail, None, 100)
    return InstanceRecord(index=index, name=name, team=team, fields=fields, password=password)


def _text(raw, name, fail, default=None, max_length=253) -> str:
    value = raw.get(name, default)
    if value is None:
        raise fail(name, "is required")
    if not isinstance(value, str) or not value.strip():
        raise fail(name, "must be a non-empty string")
    if len(value) > max_length:
        raise fail(name, f"must be at most {max_length} characters")
    if any(ch.isspace() for ch in value) and name != "team":
        raise fail(name, "must not contain spaces")
    return value.strip()


def _choice(raw, name, choices, fail, default=None) -> str:
    value = raw.get(name, default)
    if value is None:
        raise fail(name, f"is required (one of {', '.join(choices)})")
    if value not in choices:
        raise fail(name, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def _host(raw, fail) -> str:
    host = _text(raw, "host", fail)
    if not (HOSTNAME.match(host) or (":" in host and IPV6.match(host))):
        raise fail("host", f"{host!r} is not a host name or IP address")
    return host


def _port(raw, fail, default: int) -> int:
    port = raw.get("port", default)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise fail("port", f"must be a whole number from 1 to 65535, got {port!r}")
    return port


def _bool(raw, name, fail, default: bool) -> bool:
    value = raw.get(name, default)
    if not isinstance(value, bool):
        raise fail(name, f"must be true or false, got {value!r}")
    return value


def _ca_cert(raw, fail) -> str:
    pem = raw.get("ca_cert")
    if pem in (None, ""):
        return ""
    if not isinstance(pem, str):
        raise fail("ca_cert", "must be PEM text")
    try:
        x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        raise fail("ca_cert", "is not a PEM certificate") from None
    return pem.strip() + "\n"


@dataclass
class ImportResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    teams_created: list[str] = field(default_factory=list)


def apply_records(records: list[InstanceRecord], *, dry_run: bool) -> ImportResult:
    """Upsert by name inside one transaction; a dry run rolls everything back."""
    result = ImportResult()
    with transaction.atomic():
        existing = {i.name: i for i in Instance.objects.filter(name__in=[r.name for r in records])}
        teams = {t.name: t for t in Team.objects.filter(name__in={r.team for r in records})}
        for record in records:
            if record.team not in teams:
                teams[record.team] = Team.objects.create(name=record.team)
                result.teams_created.append(record.team)
            _upsert(record, existing.get(record.name), teams[record.team], result)
        if dry_run:
            transaction.set_rollback(True)
    return result


def _same_password(instance: Instance, password: str) -> bool:
    try:
        return open_password(instance, Purpose.IMPORT) == password
    except SecretUnavailable:
        return False  # replaced by the file's password


def _upsert(record: InstanceRecord, instance: Instance | None, team: Team, result) -> None:
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
    for key, value in record.fields.items():
        setattr(instance, key, value)
    instance.team = team
    instance.save()
    result.updated.append(record.name)
