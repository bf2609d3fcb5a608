"""Connection snippets per driver, rendered from templates under instances/templates/snippets/.

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
class SnippetFile:
    filename: str
    language: str
    code: str


@dataclass(frozen=True)
class Snippet:
    id: str
    title: str
    language: str
    code: str
    filename: str | None
    resilience: str | None
    # Where people look for it in the language picker: the language they program in.
    ecosystem: str = ""
    # Every file of a snippet that needs several (the main one, `code`, included); else empty.
    files: tuple[SnippetFile, ...] = ()

    def as_contract(self) -> dict[str, Any]:
        """The object of `snippets --json`: `files` only for a snippet that needs several."""
        data = asdict(self)
        if not self.files:
            del data["files"]
        return data


@dataclass(frozen=True)
class _Spec:
    id: str
    title: str
    language: str
    filename: str | None
    has_resilience: bool
    ecosystem: str
    # Further files as (path, language), rendered from templates in the folder <id>/; the
    # main file (`filename`) comes last in `files`.
    extra_files: tuple[tuple[str, str], ...] = ()


# The order of the language picker's groups (and of the README's language list).
ECOSYSTEMS = ("Command line", "Any client", "Node.js", "Python", "Go", "Java", "PHP", "Ruby")

_PRISMA_FILES = (
    ("prisma/schema.prisma", "text"),
    ("prisma.config.ts", "typescript"),
    (".env", "bash"),
)

_SPECS: dict[str, tuple[_Spec, ...]] = {
    "postgresql": (
        _Spec("psql", "psql (conninfo)", "bash", None, False, "Command line"),
        _Spec("psql-uri", "psql (URI)", "bash", None, False, "Command line"),
        _Spec("uri", "Connection URI", "text", None, False, "Any client"),
        _Spec("node-pg", "Node.js — pg Pool", "javascript", "db.js", True, "Node.js"),
        _Spec("postgres-js", "Node.js — postgres.js", "javascript", "db.js", True, "Node.js"),
        _Spec("prisma", "Prisma 7", "typescript", "src/db.ts", True, "Node.js", _PRISMA_FILES),
        _Spec("drizzle", "Node.js — Drizzle ORM", "javascript", "db.js", True, "Node.js"),
        _Spec("psycopg2", "Python — psycopg2", "python", "db.py", True, "Python"),
        _Spec("psycopg", "Python — psycopg 3", "python", "db.py", True, "Python"),
        _Spec("asyncpg", "Python — asyncpg", "python", "db.py", True, "Python"),
        _Spec("sqlalchemy", "Python — SQLAlchemy", "python", "db.py", True, "Python"),
        _Spec("django", "Django — settings.py", "python", "settings.py", True, "Python"),
        _Spec("go-pgx", "Go — pgx pool", "go", "db.go", True, "Go"),
        _Spec("jdbc", "Java — JDBC", "java", "Db.java", True, "Java"),
        _Spec(
            "spring-boot",
            "Spring Boot — application.properties",
            "properties",
            "src/main/resources/application.properties",
            True,
            "Java",
        ),
        _Spec("php-pdo", "PHP — PDO", "php", "db.php", True, "PHP"),
        _Spec("laravel", "Laravel — .env", "bash", ".env", True, "PHP"),
        _Spec("rails", "Rails — config/database.yml", "yaml", "config/database.yml", True, "Ruby"),
    ),
    "valkey": (
        _Spec("valkey-cli", "valkey-cli", "bash", None, False, "Command line"),
        _Spec("redis-cli", "redis-cli", "bash", None, False, "Command line"),
        _Spec("uri", "Connection URI", "text", None, False, "Any client"),
        _Spec("ioredis", "Node.js — ioredis", "javascript", "redis.js", True, "Node.js"),
        _Spec("node-redis", "Node.js — node-redis", "javascript", "redis.js", True, "Node.js"),
        _Spec("bullmq", "Node.js — BullMQ queue", "javascript", "queue.js", True, "Node.js"),
        _Spec("redis-py", "Python — redis-py", "python", "cache.py", True, "Python"),
        _Spec("django-cache", "Django — CACHES", "python", "settings.py", True, "Python"),
        _Spec("celery", "Python — Celery", "python", "celery_app.py", True, "Python"),
        _Spec("go-redis", "Go — go-redis", "go", "cache.go", True, "Go"),
        _Spec("phpredis", "PHP — phpredis", "php", "cache.php", True, "PHP"),
        _Spec("redis-rb", "Ruby — redis-rb", "ruby", "cache.rb", True, "Ruby"),
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
    query = f"?{_query(params)}" if params else ""
    return f"postgresql://{user}:{secret}@{host}:{instance.port}/{database}{query}"


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
    pgx_params = {"sslmode": sslmode, "pool_max_conns": str(instance.limits.pool_size)}
    if instance.ca_file_name:
        pgx_params["sslrootcert"] = instance.ca_file_name
    rootcert = _libpq_rootcert(instance)
    jdbc_params = {"sslmode": sslmode, **({"sslrootcert": rootcert} if rootcert else {})}
    database = escaping.uri_component(instance.database)
    return {
        "sslmode": sslmode,
        "verify": sslmode.startswith("verify"),
        "verify_full": sslmode == "verify-full",
        "rootcert": rootcert,
        "system_bundle": SYSTEM_CA_BUNDLE,
        # TLS settings stay out of this URL: node-pg would let them override its ssl object.
        "prisma_url": _postgresql_uri(instance, password, {}),
        "pgx_dsn": _pgx_dsn(instance, pgx_params),
        "jdbc_url": f"jdbc:postgresql://{_uri_host(instance.host)}:{instance.port}/{database}",
        "jdbc_query": _query({**jdbc_params, "connectTimeout": "10"}),
    }


def _valkey_context(instance: Instance, password: str) -> dict[str, Any]:
    scheme = "rediss" if instance.tls else "redis"
    return {
        "tls": instance.tls,
        "location": f"{scheme}://{_uri_host(instance.host)}:{instance.port}/0",
        "celery_url": f"{_valkey_uri(instance, password)}/0",
    }


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
    """The instance's snippets in picker order; `language` keeps only the snippet with that id.

    Raises KeyError for a `language` the instance's engine has no snippet for.
    """
    specs = _SPECS[instance.engine]
    if language is not None:
        specs = tuple(spec for spec in specs if spec.id == language)
        if not specs:
            raise KeyError(language)
    context = _context(instance, _PLACEHOLDER if password is None else password)
    folder = f"snippets/{instance.engine}"

    def render(name: str) -> str:
        return _render(f"{folder}/{name}.txt", context, password)

    return [_snippet(spec, render) for spec in specs]


def _snippet(spec: _Spec, render: Callable[[str], str]) -> Snippet:
    code = render(spec.id)
    files: tuple[SnippetFile, ...] = ()
    if spec.extra_files:
        extra = tuple(
            SnippetFile(path, language, render(f"{spec.id}/{path}"))
            for path, language in spec.extra_files
        )
        files = (*extra, SnippetFile(spec.filename or "", spec.language, code))
    return Snippet(
        id=spec.id,
        title=spec.title,
        language=spec.language,
        code=code,
        filename=spec.filename,
        resilience=render(f"{spec.id}.resilience") if spec.has_resilience else None,
        ecosystem=spec.ecosystem,
        files=files,
    )


def snippets_report(
    instance: Instance, password: str | None, *, language: str | None = None
) -> dict[str, Any]:
    """The JSON document of `snippets --json` (masked without `password`)."""
    return {
        "instance": instance.name,
        "engine": instance.engine,
        "connection": connection_details(instance, password),
        "snippets": [
            snippet.as_contract()
            for snippet in build_snippets(instance, password, language=language)
        ],
    }
