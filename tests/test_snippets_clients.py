"""Shell and Python snippets, rendered for every TLS case of tests/snippet_runs.py with the
hostile password, run verbatim by their real clients: psql, redis-cli, psycopg2, psycopg 3,
Django (DATABASES and the RedisCache CACHES), SQLAlchemy, asyncpg, redis-py and Celery/kombu.

Python snippets run in this process from the working directory holding the CA file. Go
snippets cannot be built here (no module proxy; Debian has pgx v4 only), so Go itself decodes
their literals (tests/node/literals.go) and the decoded values connect through libpq and
redis-py: the closest honest check, not the real client.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
from django.core.cache import CacheHandler
from django.core.cache.backends.redis import RedisCache
from django.db.utils import ConnectionHandler

from tests.snippet_runs import (
    NODE_DIR,
    Rendered,
    Run,
    check,
    clean_env,
    make_workdir,
    need,
    params,
    run,
    run_ok,
    runs,
    trust_env,
)

pytestmark = pytest.mark.servers

PG_PROBE = (
    "SELECT current_user, ssl, current_setting('statement_timeout') "
    "FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, pg_tls) -> Path:
    return make_workdir(tmp_path_factory.mktemp("snippets"), pg_tls.ca_pem)


@pytest.fixture(scope="module")
def rendered(request, pg_tls) -> Rendered:
    return Rendered(request, pg_tls.ca_pem)


def outcome_of(work, *args) -> dict[str, Any]:
    try:
        return {"ok": True, "result": work(*args)}
    except Exception as error:
        return {"ok": False, "error": f"{type(error).__name__}: {error}"}


def exec_snippet(code: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "snippet"}
    exec(compile(code, "<snippet>", "exec"), namespace)
    return namespace


# ------------------------------------------------------------------------ shell clients


@pytest.mark.parametrize(
    "item", params(runs("postgresql", ["psql", "psql-uri"], ["code"], public=False))
)
def test_it_runs_psql_snippets_as_printed(rendered, workdir, item: Run):
    need("psql")
    query = "SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid();\n"
    done = run(["bash", "-c", rendered.code(item)], workdir, query, clean_env(workdir), 30)
    outcome = {"ok": done.returncode == 0, "result": done.stdout, "error": done.stderr}
    if out := check(outcome, item):
        assert rendered.server(item).username in out
        assert "| t" in out


@pytest.mark.parametrize("item", params(runs("valkey", ["redis-cli", "valkey-cli"], ["code"])))
def test_it_runs_cli_snippets_as_printed(rendered, workdir, tmp_path, item: Run):
    redis_cli = need("redis-cli")
    env = clean_env(workdir)
    if item.snippet_id == "valkey-cli" and not Path("/usr/bin/valkey-cli").exists():
        # redis-cli stands in; the snippet passes REDISCLI_AUTH, which both programs read.
        (tmp_path / "valkey-cli").symlink_to(redis_cli)
        env["PATH"] = f"{tmp_path}:{env['PATH']}"
    env.update(trust_env(item.case.public, workdir))
    done = run(["bash", "-c", rendered.code(item)], workdir, "ACL WHOAMI\nPING\n", env, 30)
    # redis-cli exits 0 after a refused handshake too: only the replies tell.
    replies = done.stdout.split()
    outcome = {"ok": replies[-1:] == ["PONG"], "result": replies, "error": done.stderr}
    # redis-cli 7 (hiredis) checks the chain but not the host name; the snippet says so.
    connects = item.case.connects or item.case.id == "tls-wrong-host"
    if result := check(outcome, item, connects):
        assert result == [rendered.server(item).username, "PONG"]


@pytest.mark.parametrize("item", params(runs("postgresql", ["uri"], ["code"], public=False)))
def test_it_connects_with_the_postgresql_uri(rendered, workdir, monkeypatch, item: Run):
    import psycopg

    monkeypatch.chdir(workdir)  # sslrootcert names the CA file in the working directory
    row = check(outcome_of(lambda: closing_row(psycopg.connect(rendered.code(item)))), item)
    if row:
        assert (row[0], row[1]) == (rendered.server(item).username, True)


@pytest.mark.parametrize("item", params(runs("valkey", ["uri"], ["code"])))
def test_it_connects_with_the_valkey_uri(rendered, workdir, item: Run):
    redis_cli = need("redis-cli")
    argv = [redis_cli, "-u", rendered.code(item)]
    if item.case.setting == "tls" and not item.case.public:
        argv += ["--cacert", "snip-cache-ca.pem"]  # a private CA, as the CLI snippets pass it
    env = clean_env(workdir, **trust_env(item.case.public, workdir))
    done = run([*argv, "ACL", "WHOAMI"], workdir, env=env, timeout=30)
    outcome = {"ok": done.returncode == 0 and "ERR" not in done.stdout, "result": done.stdout}
    # redis-cli 7 checks the chain but not the host name (see the CLI snippets).
    connects = item.case.connects or item.case.id == "tls-wrong-host"
    if out := check({**outcome, "error": done.stderr}, item, connects):
        assert out.split() == [rendered.server(item).username]


# ----------------------------------------------------------------------- Python clients


def closing_row(conn) -> tuple:
    try:
        cursor = conn.cursor()
        cursor.execute(PG_PROBE)
        return cursor.fetchone()
    finally:
        conn.close()


def psycopg_pool_row(namespace: dict[str, Any]) -> tuple:
    try:
        return namespace["query_with_retry"](PG_PROBE)[0]
    finally:
        pool = namespace["pool"]
        pool.closeall() if hasattr(pool, "closeall") else pool.close()


def django_row(namespace: dict[str, Any], blocker) -> tuple:
    connection = ConnectionHandler(namespace["DATABASES"])["default"]
    try:
        # pytest-django guards the portal's database; this one is the test server.
        with blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(PG_PROBE)
            return cursor.fetchone()
    finally:
        connection.close()
        # Django 5.1+ has pools; django-stubs 5.2 does not know them yet.
        if connection.pool:  # type: ignore[attr-defined]
            connection.close_pool()  # type: ignore[attr-defined]


def sqlalchemy_row(namespace: dict[str, Any]) -> tuple:
    from sqlalchemy import text

    engine = namespace["engine"]
    try:
        if "query_with_retry" in namespace:
            return tuple(namespace["query_with_retry"](PG_PROBE)[0])
        with engine.connect() as conn:
            return tuple(conn.execute(text(PG_PROBE)).one())
    finally:
        engine.dispose()


def asyncpg_main(namespace: dict[str, Any]) -> tuple:
    """Runs the snippet's own main(), which prints the server version, as `python db.py` would:
    in a thread of its own, so that no event loop left running in this one (Playwright's) is in
    the way of asyncio.run()."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, namespace["main"]()).result()
    assert out.getvalue().startswith("PostgreSQL"), out.getvalue()
    return ()


PYTHON_PG = {
    "psycopg2": lambda ns, _: closing_row(ns["conn"]),
    "psycopg": lambda ns, _: closing_row(ns["conn"]),
    "django": lambda ns, blocker: django_row(ns, blocker),
    "sqlalchemy": lambda ns, _: sqlalchemy_row(ns),
    "asyncpg": lambda ns, _: asyncpg_main(ns),
}
PYTHON_PG_RESILIENCE = {"psycopg2": psycopg_pool_row, "psycopg": psycopg_pool_row}


# libpq clients name the system bundle's path in the public cases: private cases only.
PYTHON_PG_RUNS = runs("postgresql", [i for i in PYTHON_PG if i != "asyncpg"], public=False) + runs(
    "postgresql", ["asyncpg"]
)


@pytest.mark.parametrize("item", params(PYTHON_PG_RUNS))
def test_it_connects_with_python_pg_snippets(
    rendered, workdir, monkeypatch, django_db_blocker, item: Run
):
    monkeypatch.chdir(workdir)
    for name, value in trust_env(item.case.public, workdir).items():
        monkeypatch.setenv(name, value)

    def work() -> tuple:
        namespace = exec_snippet(rendered.code(item))
        if item.variant == "resilience" and item.snippet_id in PYTHON_PG_RESILIENCE:
            return PYTHON_PG_RESILIENCE[item.snippet_id](namespace)
        return PYTHON_PG[item.snippet_id](namespace, django_db_blocker)

    row = check(outcome_of(work), item)
    if row:
        assert (row[0], row[1]) == (rendered.server(item).username, True)
        assert row[2] == ("30s" if item.variant == "resilience" else "0")


def redis_py_client(namespace: dict[str, Any]) -> redis.Redis:
    return namespace["r"]


def django_cache_client(namespace: dict[str, Any]) -> redis.Redis:
    cache = CacheHandler(settings=namespace["CACHES"])["default"]
    assert isinstance(cache, RedisCache)
    cache.set("snippet-probe", "ok")
    assert cache.get("snippet-probe") == "ok"
    # The redis-py client behind it (Django keeps it there; no public way to reach it).
    return cache._cache.get_client(write=True)  # type: ignore[attr-defined]


def celery_clients(namespace: dict[str, Any]) -> list[redis.Redis]:
    """The broker's and the result backend's connections: both must check the certificate."""
    app = namespace["app"]
    connection = app.connection_for_write()
    connection.connect()
    return [connection.default_channel.client, app.backend.client]


VALKEY_PYTHON = {
    "redis-py": lambda ns: [redis_py_client(ns)],
    "django-cache": lambda ns: [django_cache_client(ns)],
    "celery": celery_clients,
}


@pytest.mark.parametrize("item", params(runs("valkey", VALKEY_PYTHON)))
def test_it_pings_with_python_valkey_snippets(rendered, workdir, monkeypatch, item: Run):
    monkeypatch.chdir(workdir)
    for name, value in trust_env(item.case.public, workdir).items():
        monkeypatch.setenv(name, value)

    def work() -> list[str]:
        clients = VALKEY_PYTHON[item.snippet_id](exec_snippet(rendered.code(item)))
        try:
            return [client.execute_command("ACL", "WHOAMI") for client in clients]
        finally:
            for client in clients:
                client.close()

    users = check(outcome_of(work), item)
    if users:
        assert {user if isinstance(user, str) else user.decode() for user in users} == {
            rendered.server(item).username
        }


# -------------------------------------------------------------------------------- Go


@pytest.fixture(scope="module")
def go_literals(rendered, workdir) -> dict[str, dict[str, Any]]:
    """Go's own parser decodes the verify-full / TLS snippets' string literals."""
    need("go")
    go_dir = workdir / "go"
    go_dir.mkdir()
    files = {}
    for engine, case_id, snippet_id in (
        ("postgresql", "verify-full", "go-pgx"),
        ("valkey", "tls", "go-redis"),
    ):
        snippet = rendered.snippets[engine, case_id][snippet_id]
        for variant in ("code", "resilience"):
            path = files[f"{snippet_id}-{variant}"] = go_dir / f"{snippet_id}-{variant}.go"
            path.write_text(getattr(snippet, variant) + "\n")
    env = {**os.environ, "GOPROXY": "off", "GOFLAGS": "-mod=mod", "GOCACHE": str(go_dir / "cache")}
    unformatted = run_ok(["gofmt", "-l", *map(str, files.values())], go_dir, env=env)
    assert unformatted == "", f"not gofmt-formatted: {unformatted}"
    binary = go_dir / "literals"
    run_ok(["go", "build", "-o", str(binary), str(NODE_DIR / "literals.go")], go_dir, env=env)
    decoded = json.loads(run_ok([str(binary), *map(str, files.values())], go_dir, env=env))
    return {key: decoded[str(path)] for key, path in files.items()}


@pytest.mark.parametrize("variant", ["code", "resilience"])
def test_it_decodes_go_pgx_literals_to_a_working_dsn(go_literals, rendered, workdir, variant):
    import psycopg

    entry = go_literals[f"go-pgx-{variant}"]
    assert "error" not in entry, entry.get("error")
    server = rendered.servers["pg_tls"]
    assert entry["literals"]["Password"] == server.password
    dsn = entry["dsn"]
    assert dsn["has_password"] is False
    assert (dsn["user"], dsn["host"], dsn["port"]) == (
        server.username,
        "localhost",
        str(server.port),
    )
    assert dsn["query"] == {
        "sslmode": ["verify-full"],
        "sslrootcert": ["snip-pg-ca.pem"],
        "pool_max_conns": ["10"],
    }
    # pgx reads the libpq parameters of this URL as libpq does; pool_max_conns is pgx's own.
    libpq_dsn = entry["literals"]["ParseConfig.0"].replace("&pool_max_conns=10", "")
    conninfo = libpq_dsn.replace("snip-pg-ca.pem", str(workdir / "snip-pg-ca.pem"))
    with psycopg.connect(conninfo, password=entry["literals"]["Password"]) as conn:
        row = conn.execute(PG_PROBE).fetchone()
    assert row is not None
    assert (row[0], row[1]) == (server.username, True)


@pytest.mark.parametrize("variant", ["code", "resilience"])
def test_it_decodes_go_redis_literals_to_working_options(go_literals, rendered, workdir, variant):
    entry = go_literals[f"go-redis-{variant}"]
    assert "error" not in entry, entry.get("error")
    lits = entry["literals"]
    assert lits["ServerName"] == lits["JoinHostPort.0"] == "localhost"
    assert lits["ReadFile.0"] == "snip-cache-ca.pem"
    client = redis.Redis(
        host=lits["JoinHostPort.0"],
        port=int(lits["JoinHostPort.1"]),
        username=lits["Username"],
        password=lits["Password"],
        ssl=True,
        ssl_ca_certs=str(workdir / lits["ReadFile.0"]),
        ssl_check_hostname=True,
        socket_timeout=10,
    )
    try:
        assert client.acl_whoami() == rendered.servers["redis_tls"].username
    finally:
        client.close()
