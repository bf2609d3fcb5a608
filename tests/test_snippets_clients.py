"""Every connection snippet, rendered with the hostile test password, run by its real client.

The servers come from tests/servers.py (TLS, certificate for localhost from a private CA).
Each snippet runs in a temporary directory holding that CA under the snippet's ``ca_file``
name, exactly as a user following the snippet's comment would have it. Node snippets run in
one Node process (tests/node/run_snippets.cjs); Go snippets cannot be built here (no module
proxy), so Go itself decodes their literals (tests/node/literals.go) and the decoded values
connect through psycopg / redis-py. A missing client skips outside CI and fails under CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg
import pytest
import redis
from django.db.utils import ConnectionHandler

from instances import escaping
from instances.models import Instance
from instances.snippets import Snippet, build_snippets
from tests.base import stored_password
from tests.servers import ServerInfo, unavailable

pytestmark = pytest.mark.servers

NODE_DIR = Path(__file__).resolve().parent / "node"
PHPDOTENV_AUTOLOAD = "/usr/share/php/Dotenv/autoload.php"  # Debian's php-vlucas-phpdotenv
PG_PROBE = (
    "SELECT current_user, ssl, current_setting('statement_timeout') "
    "FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
)


def need(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        unavailable(f"{program} is not installed")
    return path


def run(argv: list[str], cwd: Path, stdin: str = "", env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        argv, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, f"{argv[0]} failed ({done.returncode}): {done.stderr}"
    return done.stdout


def clean_env(workdir: Path, **extra: str) -> dict[str, str]:
    """No PG* / REDISCLI_* from the caller, HOME without rc files or ~/.postgresql."""
    return {"PATH": os.environ["PATH"], "HOME": str(workdir), "LANG": "C.UTF-8", **extra}


def instance_for(server: ServerInfo, name: str) -> Instance:
    instance = Instance(
        name=name,
        engine=server.engine,
        tier="standard",
        host=server.host,
        port=server.port,
        username=server.username,
        database=server.database or "",
        sslmode="verify-full",
        tls=True,
        ca_cert=server.ca_pem or "",
    )
    instance.set_password(server.password)
    return instance


def by_id(instance: Instance) -> dict[str, Snippet]:
    return {s.id: s for s in build_snippets(instance, stored_password(instance))}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, pg: Instance, cache: Instance) -> Path:
    directory = tmp_path_factory.mktemp("snippets")
    for instance in (pg, cache):
        (directory / instance.ca_file_name).write_text(instance.ca_cert)
    return directory


@pytest.fixture(scope="module")
def pg(pg_tls: ServerInfo) -> Instance:
    return instance_for(pg_tls, "snip-pg")


@pytest.fixture(scope="module")
def cache(redis_tls: ServerInfo) -> Instance:
    return instance_for(redis_tls, "snip-cache")


@pytest.fixture(scope="module")
def pg_snippets(pg: Instance) -> dict[str, Snippet]:
    return by_id(pg)


@pytest.fixture(scope="module")
def cache_snippets(cache: Instance) -> dict[str, Snippet]:
    return by_id(cache)


def assert_pg_session(row: Any, server: ServerInfo) -> None:
    assert row[0] == server.username
    assert row[1] is True  # TLS


def pg_connect(**kwargs: Any) -> tuple[Any, ...]:
    with psycopg.connect(connect_timeout=10, **kwargs) as conn:
        row = conn.execute(PG_PROBE).fetchone()
    assert row is not None
    return row


# ------------------------------------------------------------------------ shell clients


@pytest.mark.parametrize("snippet_id", ["psql", "psql-uri"])
def test_it_runs_psql_snippets_as_printed(pg_snippets, pg_tls, workdir, snippet_id):
    need("psql")
    code = pg_snippets[snippet_id].code
    query = "SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid();\n"
    out = run(["bash", "-c", code], workdir, stdin=query, env=clean_env(workdir))
    assert pg_tls.username in out
    assert "| t" in out


@pytest.mark.parametrize("snippet_id", ["redis-cli", "valkey-cli"])
def test_it_runs_cli_snippets_as_printed(cache_snippets, redis_tls, workdir, snippet_id, tmp_path):
    redis_cli = need("redis-cli")
    env = clean_env(workdir)
    if snippet_id == "valkey-cli" and shutil.which("valkey-cli") is None:
        # redis-cli stands in; the snippet passes REDISCLI_AUTH, which both programs read.
        (tmp_path / "valkey-cli").symlink_to(redis_cli)
        env["PATH"] = f"{tmp_path}:{env['PATH']}"
    out = run(["bash", "-c", cache_snippets[snippet_id].code], workdir, "ACL WHOAMI\nPING\n", env)
    assert out.split() == [redis_tls.username, "PONG"]


# ----------------------------------------------------------------------- Python clients


def exec_snippet(code: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(compile(code, "<snippet>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("snippet_id", ["psycopg2", "psycopg"])
def test_it_connects_with_python_pg_snippets(pg_snippets, pg_tls, workdir, monkeypatch, snippet_id):
    monkeypatch.chdir(workdir)
    conn = exec_snippet(pg_snippets[snippet_id].code)["conn"]
    try:
        cursor = conn.cursor()
        cursor.execute(PG_PROBE)
        assert_pg_session(cursor.fetchone(), pg_tls)
    finally:
        conn.close()


def test_it_runs_psycopg2_pool_with_retry(pg_snippets, pg_tls, workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    namespace = exec_snippet(pg_snippets["psycopg2"].resilience)
    try:
        row = namespace["query_with_retry"](PG_PROBE)[0]
        assert_pg_session(row, pg_tls)
        assert row[2] == "30s"
    finally:
        namespace["pool"].closeall()


def test_it_runs_psycopg_pool_with_retry(pg_snippets, pg_tls, workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    namespace = exec_snippet(pg_snippets["psycopg"].resilience)
    try:
        row = namespace["query_with_retry"](PG_PROBE)[0]
        assert_pg_session(row, pg_tls)
        assert row[2] == "30s"
    finally:
        namespace["pool"].close()


@pytest.mark.parametrize("variant", ["code", "resilience"])
def test_it_connects_with_django_databases(
    pg_snippets, pg_tls, workdir, monkeypatch, django_db_blocker, variant
):
    monkeypatch.chdir(workdir)
    databases = exec_snippet(getattr(pg_snippets["django"], variant))["DATABASES"]
    connection = ConnectionHandler(databases)["default"]
    try:
        # pytest-django guards the portal's database; this one is the test server.
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(PG_PROBE)
            row = cursor.fetchone()
        assert_pg_session(row, pg_tls)
        assert row[2] == ("30s" if variant == "resilience" else "0")
    finally:
        connection.close()
        if variant == "resilience":
            # Django 5.1+ has it; django-stubs 5.2 does not know it yet.
            connection.close_pool()  # type: ignore[attr-defined]


@pytest.mark.parametrize("variant", ["code", "resilience"])
def test_it_pings_with_redis_py(cache_snippets, redis_tls, workdir, monkeypatch, variant):
    monkeypatch.chdir(workdir)
    client = exec_snippet(getattr(cache_snippets["redis-py"], variant))["r"]
    try:
        assert client.ping() is True
        assert client.acl_whoami() == redis_tls.username
    finally:
        client.close()


# ------------------------------------------------------------------------- Node clients

NODE_JOBS = [
    # (job id, engine, snippet id, variant, runner kind, names the runner needs)
    ("node-pg", "postgresql", "node-pg", "code", "pg-pool", "pool"),
    ("node-pg-resilience", "postgresql", "node-pg", "resilience", "pg-retry", "pool, withRetry"),
    ("drizzle", "postgresql", "drizzle", "code", "drizzle", "db, pool"),
    ("drizzle-resilience", "postgresql", "drizzle", "resilience", "drizzle", "db, pool"),
    ("ioredis", "valkey", "ioredis", "code", "ioredis", "redis"),
    ("ioredis-resilience", "valkey", "ioredis", "resilience", "ioredis", "redis"),
    ("bullmq", "valkey", "bullmq", "code", "bullmq", "queue"),
    ("bullmq-resilience", "valkey", "bullmq", "resilience", "bullmq", "queue, worker"),
]


def node_modules() -> Path:
    need("node")
    if not (NODE_DIR / "node_modules").is_dir():
        run([need("npm"), "ci", "--no-audit", "--no-fund", "--prefix", str(NODE_DIR)], NODE_DIR)
    return NODE_DIR / "node_modules"


@pytest.fixture(scope="module")
def node_results(pg_snippets, cache_snippets, workdir) -> dict[str, Any]:
    modules = node_modules()
    snippets = {"postgresql": pg_snippets, "valkey": cache_snippets}
    jobs = []
    for job_id, engine, snippet_id, variant, kind, names in NODE_JOBS:
        code = getattr(snippets[engine][snippet_id], variant)
        path = workdir / f"{job_id}.cjs"
        path.write_text(f"{code}\nmodule.exports = {{ {names} }};\n")
        jobs.append({"id": job_id, "kind": kind, "file": str(path), "cwd": str(workdir)})
    prisma = workdir / "prisma"
    prisma.mkdir()
    (prisma / ".env").write_text(pg_snippets["prisma"].code + "\n")
    (prisma / "resilience.env").write_text(pg_snippets["prisma"].resilience + "\n")
    (prisma / "escaped.env").write_text(f"X=expanded\nA={escaping.prisma_env_value('a${X}b$X')}\n")
    for name in (".env", "resilience.env", "escaped.env"):
        jobs.append({"id": name, "kind": "dotenv", "file": str(prisma / name), "cwd": str(prisma)})
    jobs_file = workdir / "jobs.json"
    jobs_file.write_text(json.dumps(jobs))
    env = {**os.environ, "NODE_PATH": str(modules)}
    return json.loads(
        run(["node", str(NODE_DIR / "run_snippets.cjs"), str(jobs_file)], workdir, env=env)
    )


@pytest.mark.parametrize("job_id", [job[0] for job in NODE_JOBS if job[1] == "postgresql"])
def test_it_queries_with_node_pg_snippets(node_results, pg_tls, job_id):
    outcome = node_results[job_id]
    assert outcome["ok"], outcome.get("error")
    row = outcome["result"]
    assert (row["user"], row["ssl"]) == (pg_tls.username, True)
    assert row["statement_timeout"] == ("30s" if job_id.endswith("resilience") else "0")


@pytest.mark.parametrize("job_id", [job[0] for job in NODE_JOBS if job[1] == "valkey"])
def test_it_pings_with_node_valkey_snippets(node_results, redis_tls, job_id):
    outcome = node_results[job_id]
    assert outcome["ok"], outcome.get("error")
    assert outcome["result"]["ping"] == "PONG"
    assert outcome["result"]["user"] == redis_tls.username


@pytest.mark.parametrize("env_file", [".env", "resilience.env"])
def test_it_reads_prisma_env_with_dotenv_and_connects(node_results, pg, pg_tls, workdir, env_file):
    outcome = node_results[env_file]
    assert outcome["ok"], outcome.get("error")
    url = urlsplit(outcome["result"]["DATABASE_URL"])
    assert unquote(url.password) == pg_tls.password
    assert (url.hostname, url.port, url.path) == (pg_tls.host, pg_tls.port, f"/{pg_tls.database}")
    query = {key: values[0] for key, values in parse_qs(url.query).items()}
    assert (query["sslmode"], query["sslaccept"]) == ("require", "strict")
    # Prisma resolves sslrootcert against prisma/; sslaccept=strict is libpq's verify-full.
    rootcert = (workdir / "prisma" / query["sslrootcert"]).resolve()
    assert rootcert == workdir / pg.ca_file_name
    base = url._replace(query="").geturl()
    row = pg_connect(conninfo=base, sslmode="verify-full", sslrootcert=str(rootcert))
    assert_pg_session(row, pg_tls)


def test_it_keeps_escaped_dollar_brace_literal_for_prisma(node_results):
    outcome = node_results["escaped.env"]
    assert outcome["ok"], outcome.get("error")
    # dotenv-expand 5.1.0 also expands a bare $X; Prisma's own copy expands only ${X}.
    assert outcome["result"]["A"] == "a${X}bexpanded"


# -------------------------------------------------------------------- PHP, Ruby and Go


def test_it_reads_laravel_env_with_phpdotenv_and_connects(pg_snippets, pg, pg_tls, workdir):
    need("php")
    if not Path(PHPDOTENV_AUTOLOAD).exists():
        unavailable("vlucas/phpdotenv is not installed (Debian: php-vlucas-phpdotenv)")
    script = (
        f"require '{PHPDOTENV_AUTOLOAD}';"
        "echo json_encode(Dotenv\\Dotenv::parse(file_get_contents('php://stdin')));"
    )
    env = json.loads(run(["php", "-r", script], workdir, stdin=pg_snippets["laravel"].code))
    assert env["DB_PASSWORD"] == pg_tls.password
    assert (env["DB_CONNECTION"], env["DB_SSLMODE"]) == ("pgsql", "verify-full")
    assert env["DB_SSLROOTCERT"] == pg.ca_file_name
    row = pg_connect(
        host=env["DB_HOST"],
        port=int(env["DB_PORT"]),
        dbname=env["DB_DATABASE"],
        user=env["DB_USERNAME"],
        password=env["DB_PASSWORD"],
        sslmode=env["DB_SSLMODE"],
        sslrootcert=str(workdir / env["DB_SSLROOTCERT"]),
    )
    assert_pg_session(row, pg_tls)


@pytest.mark.parametrize("variant", ["code", "resilience"])
def test_it_renders_rails_database_yml_with_ruby_and_connects(
    pg_snippets, pg_tls, workdir, variant
):
    need("ruby")
    path = workdir / f"database-{variant}.yml"
    path.write_text(getattr(pg_snippets["rails"], variant))
    # What Rails does: ERB first, then YAML.
    script = "puts JSON.generate(YAML.load(ERB.new(File.read(ARGV[0])).result))"
    config = json.loads(
        run(["ruby", "-rerb", "-ryaml", "-rjson", "-e", script, str(path)], workdir)
    )
    entry = config["production"]
    assert entry["password"] == pg_tls.password
    assert entry["adapter"] == "postgresql"
    assert entry["pool"] == 10
    if variant == "resilience":
        assert entry["variables"]["statement_timeout"] == "30s"
    row = pg_connect(
        host=entry["host"],
        port=entry["port"],
        dbname=entry["database"],
        user=entry["username"],
        password=entry["password"],
        sslmode=entry["sslmode"],
        sslrootcert=str(workdir / entry["sslrootcert"]),
    )
    assert_pg_session(row, pg_tls)


@pytest.fixture(scope="module")
def go_literals(pg_snippets, cache_snippets, workdir) -> dict[str, dict[str, Any]]:
    need("go")
    go_dir = workdir / "go"
    go_dir.mkdir()
    files = {}
    for name, snippet in (("pgx", pg_snippets["go-pgx"]), ("redis", cache_snippets["go-redis"])):
        for variant in ("code", "resilience"):
            files[f"{name}-{variant}"] = go_dir / f"{name}-{variant}.go"
            files[f"{name}-{variant}"].write_text(getattr(snippet, variant) + "\n")
    env = {**os.environ, "GOPROXY": "off", "GOFLAGS": "-mod=mod", "GOCACHE": str(go_dir / "cache")}
    unformatted = run(["gofmt", "-l", *map(str, files.values())], go_dir, env=env)
    assert unformatted == "", f"not gofmt-formatted: {unformatted}"
    binary = go_dir / "literals"
    run(["go", "build", "-o", str(binary), str(NODE_DIR / "literals.go")], go_dir, env=env)
    decoded = json.loads(run([str(binary), *map(str, files.values())], go_dir, env=env))
    return {key: decoded[str(path)] for key, path in files.items()}


@pytest.mark.parametrize("variant", ["code", "resilience"])
def test_it_decodes_go_pgx_literals_to_a_working_dsn(go_literals, pg, pg_tls, workdir, variant):
    entry = go_literals[f"pgx-{variant}"]
    assert "error" not in entry, entry.get("error")
    assert entry["literals"]["Password"] == pg_tls.password
    dsn = entry["dsn"]
    assert dsn["has_password"] is False
    assert (dsn["user"], dsn["host"], dsn["port"]) == (pg_tls.username, "localhost", str(pg.port))
    assert dsn["query"] == {
        "sslmode": ["verify-full"],
        "sslrootcert": [pg.ca_file_name],
        "pool_max_conns": [str(pg.limits.pool_size)],
    }
    libpq_dsn = entry["literals"]["ParseConfig.0"].replace(
        f"&pool_max_conns={pg.limits.pool_size}", ""
    )
    conninfo = libpq_dsn.replace(pg.ca_file_name, str(workdir / pg.ca_file_name))
    row = pg_connect(conninfo=conninfo, password=entry["literals"]["Password"])
    assert_pg_session(row, pg_tls)


@pytest.mark.parametrize("variant", ["code", "resilience"])
def test_it_decodes_go_redis_literals_to_working_options(go_literals, cache, workdir, variant):
    entry = go_literals[f"redis-{variant}"]
    assert "error" not in entry, entry.get("error")
    lits = entry["literals"]
    assert lits["ServerName"] == lits["JoinHostPort.0"] == cache.host
    assert lits["ReadFile.0"] == cache.ca_file_name
    client = redis.Redis(
        host=lits["JoinHostPort.0"],
        port=int(lits["JoinHostPort.1"]),
        username=lits["Username"],
        password=lits["Password"],
        ssl=True,
        ssl_ca_certs=str(workdir / lits["ReadFile.0"]),
        socket_timeout=10,
    )
    try:
        assert client.ping() is True
    finally:
        client.close()
