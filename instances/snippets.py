"""Connection snippets per driver, rendered from templates under templates/snippets/.

Every value reaches a template as the raw value and is escaped there by a filter from
instances/templatetags/escaping.py for the syntax it lands in. Without a password the
snippets are rendered for display only: the password reads as MASK.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from django.template import Context, Engine

from instances import escaping
from instances.models import Instance

MASK = "••••••••"
# Stands in for the password while rendering without one: it passes every escaping unchanged,
# so replacing it afterwards shows MASK in the place where the password would be.
_PLACEHOLDER = "ZektorMaskedPassword"
_MISSING = "@@missing-template-variable@@"
# Where Debian and Ubuntu keep the system CA bundle. libpq < 16 (psql 15) has no
# sslrootcert=system and otherwise looks for ~/.postgresql/root.crt, so verify-ca/-full
# against a public CA needs a bundle path.
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class Snippet:
    id: str
    title: str
    language: str
    code: str
    filename: str | None
    resilience: str | None


@dataclass(frozen=True)
class _Spec:
    id: str
    title: str
    language: str
    filename: str | None
    has_resilience: bool


_SPECS: dict[str, tuple[_Spec, ...]] = {
    "postgresql": (
        _Spec("psql", "psql (conninfo)", "bash", None, False),
        _Spec("psql-uri", "psql (URI)", "bash", None, False),
        _Spec("uri", "Connection URI", "text", None, False),
        _Spec("node-pg", "Node.js — pg Pool", "javascript", "db.js", True),
        _Spec("psycopg2", "Python — psycopg2", "python", "db.py", True),
        _Spec("psycopg", "Python — psycopg 3", "python", "db.py", True),
        _Spec("go-pgx", "Go — pgx pool", "go", "db.go", True),
        _Spec("prisma", "Prisma — .env", "bash", ".env", True),
        _Spec("drizzle", "Node.js — Drizzle ORM", "javascript", "db.js", True),
        _Spec("django", "Django — settings.py", "python", "settings.py", True),
        _Spec("laravel", "Laravel — .env", "bash", ".env", False),
        _Spec("rails", "Rails — config/database.yml", "yaml", "config/database.yml", True),
    ),
    "valkey": (
        _Spec("valkey-cli", "valkey-cli", "bash", None, False),
        _Spec("redis-cli", "redis-cli", "bash", None, False),
        _Spec("uri", "Connection URI", "text", None, False),
        _Spec("ioredis", "Node.js — ioredis", "javascript", "redis.js", True),
        _Spec("redis-py", "Python — redis-py", "python", "cache.py", True),
        _Spec("go-redis", "Go — go-redis", "go", "cache.go", True),
        _Spec("bullmq", "Node.js — BullMQ queue", "javascript", "queue.js", True),
    ),
}

SNIPPET_IDS: dict[str, tuple[str, ...]] = {
    engine: tuple(spec.id for spec in specs) for engine, specs in _SPECS.items()
}


@cache
def _engine() -> Engine:
    return Engine(
        dirs=[str(TEMPLATE_DIR)],
        autoescape=False,
        string_if_invalid=_MISSING,
        builtins=["instances.templatetags.escaping"],
    )


def _uri_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _postgresql_uri(instance: Instance, password: str, params: dict[str, str]) -> str:
    user = escaping.uri_component(instance.username)
    secret = escaping.uri_component(password)
    database = escaping.uri_component(instance.database)
    host = _uri_host(instance.host)
    return f"postgresql://{user}:{secret}@{host}:{instance.port}/{database}?{_query(params)}"


def _query(params: dict[str, str]) -> str:
    return "&".join(f"{key}={escaping.uri_query_value(value)}" for key, value in params.items())


def _libpq_params(instance: Instance) -> dict[str, str]:
    params = {"sslmode": instance.sslmode}
    rootcert = _libpq_rootcert(instance)
    if rootcert:
        params["sslrootcert"] = rootcert
    return params


def _libpq_rootcert(instance: Instance) -> str | None:
    if instance.ca_file_name:
        return instance.ca_file_name
    return SYSTEM_CA_BUNDLE if instance.sslmode.startswith("verify") else None


def _valkey_uri(instance: Instance, password: str) -> str:
    scheme = "rediss" if instance.tls else "redis"
    user = escaping.uri_component(instance.username)
    secret = escaping.uri_component(password)
    return f"{scheme}://{user}:{secret}@{_uri_host(instance.host)}:{instance.port}"


def _libpq_uri(instance: Instance, password: str) -> str:
    return _postgresql_uri(instance, password, _libpq_params(instance))


def _uri(instance: Instance, password: str) -> str:
    return _URIS[instance.engine](instance, password)


def connection_uri(instance: Instance, password: str | None) -> str:
    return _unmask(_uri(instance, _PLACEHOLDER if password is None else password), password)


def connection_details(
    instance: Instance, password: str | None, *, with_uri: bool = True
) -> dict[str, Any]:
    """The fields of the Settings tab and `snippets --json`; `with_uri=False` leaves the URI
    empty for stored values no URI can carry (validation.snippet_problem says why)."""
    return {
        "host": instance.host,
        "port": instance.port,
        "username": instance.username,
        "password": MASK if password is None else password,
        "database": instance.database or None,
        "uri": connection_uri(instance, password) if with_uri else "",
        "ca_file": instance.ca_file_name,
    }


def _context(instance: Instance, password: str) -> dict[str, Any]:
    context: dict[str, Any] = {
        "name": instance.name,
        "host": instance.host,
        "port": instance.port,
        "user": instance.username,
        "password": password,
        "database": instance.database,
        "ca_file": instance.ca_file_name,
        "pool_size": instance.limits.pool_size,
        "uri": _uri(instance, password),
    }
    context.update(_ENGINE_CONTEXT[instance.engine](instance, password))
    return context


def _postgresql_context(instance: Instance, password: str) -> dict[str, Any]:
    sslmode = instance.sslmode
    ca_file = instance.ca_file_name
    # Prisma knows sslmode=require only; sslaccept=strict verifies the chain and host name.
    prisma_params = {
        "sslmode": "require",
        "sslaccept": "strict" if sslmode.startswith("verify") else "accept_invalid_certs",
    }
    if ca_file:
        prisma_params["sslrootcert"] = f"../{ca_file}"
    pgx_params = {"sslmode": sslmode, "pool_max_conns": str(instance.limits.pool_size)}
    if ca_file:
        pgx_params["sslrootcert"] = ca_file
    return {
        "sslmode": sslmode,
        "verify": sslmode.startswith("verify"),
        "verify_full": sslmode == "verify-full",
        "rootcert": _libpq_rootcert(instance),
        "system_bundle": SYSTEM_CA_BUNDLE,
        "prisma_url": _postgresql_uri(instance, password, prisma_params),
        "prisma_pool_url": _postgresql_uri(
            instance,
            password,
            {
                **prisma_params,
                "connection_limit": str(instance.limits.pool_size),
                "pool_timeout": "10",
                "connect_timeout": "10",
                "socket_timeout": "60",
            },
        ),
        "pgx_dsn": _pgx_dsn(instance, pgx_params),
    }


def _valkey_context(instance: Instance, password: str) -> dict[str, Any]:
    return {"tls": instance.tls}


def _pgx_dsn(instance: Instance, params: dict[str, str]) -> str:
    """A URL without the password: the Go snippets set it from a string literal."""
    user = escaping.uri_component(instance.username)
    database = escaping.uri_component(instance.database)
    host = _uri_host(instance.host)
    return f"postgres://{user}@{host}:{instance.port}/{database}?{_query(params)}"


# Per engine (the keys of _SPECS): the URI and what its snippet templates use beyond _context.
_URIS: dict[str, Callable[[Instance, str], str]] = {
    "postgresql": _libpq_uri,
    "valkey": _valkey_uri,
}
_ENGINE_CONTEXT: dict[str, Callable[[Instance, str], dict[str, Any]]] = {
    "postgresql": _postgresql_context,
    "valkey": _valkey_context,
}


def _unmask(text: str, password: str | None) -> str:
    return text.replace(_PLACEHOLDER, MASK) if password is None else text


def _render(name: str, context: dict[str, Any], password: str | None) -> str:
    code = _engine().get_template(name).render(Context(context, autoescape=False)).strip("\n")
    if _MISSING in code:
        raise RuntimeError(f"snippet template {name} uses an unknown variable")
    return _unmask(code, password)


def build_snippets(
    instance: Instance, password: str | None = None, *, language: str | None = None
) -> list[Snippet]:
    """The instance's snippets in contract order; `language` keeps only the snippet with that id.

    Raises KeyError for a `language` the instance's engine has no snippet for.
    """
    specs = _SPECS[instance.engine]
    if language is not None:
        specs = tuple(spec for spec in specs if spec.id == language)
        if not specs:
            raise KeyError(language)
    context = _context(instance, _PLACEHOLDER if password is None else password)
    folder = f"snippets/{instance.engine}"
    return [
        Snippet(
            id=spec.id,
            title=spec.title,
            language=spec.language,
            code=_render(f"{folder}/{spec.id}.txt", context, password),
            filename=spec.filename,
            resilience=_render(f"{folder}/{spec.id}.resilience.txt", context, password)
            if spec.has_resilience
            else None,
        )
        for spec in specs
    ]


def snippets_report(
    instance: Instance, password: str | None, *, language: str | None = None
) -> dict[str, Any]:
    """The JSON document of `snippets --json` (masked without `password`)."""
    return {
        "instance": instance.name,
        "engine": instance.engine,
        "connection": connection_details(instance, password),
        "snippets": [
            asdict(snippet) for snippet in build_snippets(instance, password, language=language)
        ],
    }
