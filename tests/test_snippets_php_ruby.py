"""PHP and Ruby snippets run verbatim by their real clients for every TLS case of
tests/snippet_runs.py, with the hostile password: php-pdo with php-pgsql, phpredis with
php-redis, the laravel .env through phpdotenv into Laravel's own Illuminate\\Database
(tests/clients/run_snippet.php), with the stock pgsql entry of config/database.php or the
resilience sample's entry and its retry() around the first query; the php-pdo resilience
sample against a closed port (retried, then given up) and with a wrong password (not retried);
redis-rb with ruby-redis and the rails database.yml through Rails' ERB + YAML loader into
ActiveRecord with ruby-pg (tests/clients/run_snippets.rb, one Ruby process).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from instances.snippets import build_snippets
from tests.servers import ServerInfo, unavailable
from tests.snippet_runs import (
    CASES,
    PG_NAME,
    Rendered,
    Run,
    batch,
    check,
    clean_env,
    instance_for,
    make_workdir,
    need,
    params,
    run,
    run_ok,
    runs,
    trust_env,
)

pytestmark = pytest.mark.servers

CLIENTS_DIR = Path(__file__).resolve().parent / "clients"
# libpq names the system bundle's path in the public cases: PostgreSQL in private cases only.
PHP_RUNS = (
    runs("postgresql", ["php-pdo"], public=False)
    + runs("postgresql", ["laravel"], public=False)
    + runs("valkey", ["phpredis"])
)
RUBY_RUNS = runs("postgresql", ["rails"], public=False) + runs("valkey", ["redis-rb"])
PHP_KINDS = {"php-pdo": "pdo", "laravel": "laravel", "phpredis": "phpredis"}
FILE_NAMES = {"laravel": ".env", "rails": "database.yml"}
# Resilience samples that run beside their snippet's code (laravel's: config/database.php's
# pgsql entry and a first query, with the .env): the runner's kind, the sample's file name.
BESIDE_CODE = {"laravel": ("laravel_resilience", "resilience.php.txt")}
# Debian packages the runners load, and the files that tell they are installed.
PHP_PACKAGES = {
    "php-pgsql": "pdo_pgsql",
    "php-redis": "redis",
}
PHP_LIBRARIES = {
    "php-vlucas-phpdotenv": "/usr/share/php/Dotenv/autoload.php",
    "php-illuminate-database": "/usr/share/php/Illuminate/Database/autoload.php",
}


@pytest.fixture(scope="module")
def rendered(request, pg_tls) -> Rendered:
    return Rendered(request, pg_tls.ca_pem)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, pg_tls) -> Path:
    return make_workdir(tmp_path_factory.mktemp("php-ruby-snippets"), pg_tls.ca_pem)


def save(rendered: Rendered, workdir: Path, item: Run) -> Path:
    """The snippet in a directory of its own, which also holds the CA file."""
    directory = workdir / item.key.replace("/", "_")
    directory.mkdir()
    for name in ("snip-pg-ca.pem", "snip-cache-ca.pem"):
        (directory / name).write_text((workdir / name).read_text())
    if item.variant == "resilience" and item.snippet_id in BESIDE_CODE:
        code = Run(item.snippet_id, "code", item.case)
        (directory / FILE_NAMES[item.snippet_id]).write_text(rendered.code(code) + "\n")
        path = directory / BESIDE_CODE[item.snippet_id][1]
    else:
        path = directory / FILE_NAMES.get(item.snippet_id, "snippet")
    path.write_text(rendered.code(item) + "\n")
    return path


@pytest.fixture(scope="module")
def php(workdir) -> None:
    need("php")
    modules = run_ok(["php", "-m"], workdir).split()
    for package, module in PHP_PACKAGES.items():
        if module not in modules:
            unavailable(f"PHP has no {module} module (Debian: {package})")
    for package, library in PHP_LIBRARIES.items():
        if not Path(library).exists():
            unavailable(f"{library} is missing (Debian: {package})")


def run_php(kind: str, path: Path, env: dict[str, str]) -> dict[str, Any]:
    argv = ["php", str(CLIENTS_DIR / "run_snippet.php"), kind, str(path)]
    out = run_ok(argv, path.parent, env=env, timeout=60)
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def php_results(php, rendered, workdir) -> dict[str, Any]:
    results = {}
    for item in PHP_RUNS:
        path = save(rendered, workdir, item)
        kind = PHP_KINDS[item.snippet_id]
        if item.variant == "resilience" and item.snippet_id in BESIDE_CODE:
            kind = BESIDE_CODE[item.snippet_id][0]
        env = clean_env(path.parent, **trust_env(item.case.public, workdir))
        results[item.key] = run_php(kind, path, env)
    return results


@pytest.fixture(scope="module")
def ruby_results(rendered, workdir) -> dict[str, Any]:
    need("ruby")
    probe = run(["ruby", "-e", 'require "pg"; require "redis"; require "active_record"'], workdir)
    if probe.returncode != 0:
        unavailable(
            f"Ruby lacks a client (Debian: ruby-pg ruby-redis ruby-activerecord): {probe.stderr}"
        )
    argv = ["ruby", str(CLIENTS_DIR / "run_snippets.rb")]
    results: dict[str, Any] = {}
    for public in (False, True):  # OpenSSL reads SSL_CERT_FILE once per process
        jobs = []
        for item in RUBY_RUNS:
            if item.case.public != public:
                continue
            path = save(rendered, workdir, item)
            kind = item.snippet_id.replace("-", "_")
            jobs.append({"key": item.key, "kind": kind, "file": str(path), "cwd": str(path.parent)})
        env = clean_env(workdir, **trust_env(public, workdir))
        results.update(batch(argv, workdir, jobs, name=f"ruby-public-{public}", env=env))
    return results


def assert_pg_row(row: dict[str, Any], rendered: Rendered, item: Run, resilient: bool) -> None:
    assert (row["user"], row["ssl"]) == (rendered.server(item).username, True)
    assert row["statement_timeout"] == ("30s" if resilient else "0")


@pytest.mark.parametrize("item", params(PHP_RUNS))
def test_it_connects_with_php_snippets(php_results, rendered, item: Run):
    result = check(php_results.get(item.key), item)
    if result and item.snippet_id == "phpredis":
        assert result == {"ping": True, "user": rendered.server(item).username}
    elif result:
        resilient = item.variant == "resilience" and item.snippet_id == "php-pdo"
        assert_pg_row(result, rendered, item, resilient)


@pytest.mark.parametrize("item", params(RUBY_RUNS))
def test_it_connects_with_ruby_snippets(ruby_results, rendered, item: Run):
    result = check(ruby_results.get(item.key), item)
    if result and item.snippet_id == "redis-rb":
        assert result == {"ping": "PONG", "user": rendered.server(item).username}
    elif result:
        assert_pg_row(result, rendered, item, item.variant == "resilience")
        assert result["pool"] == 10


# Before their 2nd to 5th attempts the php-pdo and laravel resilience samples sleep at least
# 100, 200, 400 and 800 ms, at most twice that (plus their connects): 1.5 s or more proves four
# retries (three sleep 1.4 s at most), under 0.1 s none.
FOUR_RETRIES = 1.5
NO_RETRY = 0.1
CONNECTS = 2.0


RETRYING_SAMPLES = pytest.mark.parametrize("snippet_id", ["php-pdo", "laravel"])


@RETRYING_SAMPLES
def test_it_retries_a_refused_connection_with_the_resilience_sample(
    php, pg_tls, closed_port, tmp_path, snippet_id
):
    outcome = run_resilience(
        snippet_id, replace(pg_tls, port=closed_port), pg_tls.password, tmp_path / "php"
    )
    assert not outcome["ok"], outcome
    assert "Connection refused" in outcome["error"], outcome
    assert FOUR_RETRIES <= outcome["seconds"] < 2 * FOUR_RETRIES + CONNECTS, outcome


@RETRYING_SAMPLES
def test_it_does_not_retry_a_wrong_password_with_the_resilience_sample(
    php, pg_tls, tmp_path, snippet_id
):
    outcome = run_resilience(snippet_id, pg_tls, f"{pg_tls.password}-wrong", tmp_path / "php")
    assert not outcome["ok"], outcome
    assert "password authentication failed" in outcome["error"], outcome
    assert outcome["seconds"] < NO_RETRY, outcome


def run_resilience(
    snippet_id: str, server: ServerInfo, password: str, directory: Path
) -> dict[str, Any]:
    """The php-pdo or laravel resilience sample, verbatim (laravel's beside its .env), for an
    instance on `server` (verify-full, the test CA) rendered with `password`."""
    case = next(case for case in CASES if case.id == "verify-full")
    instance = instance_for(server, case, server.ca_pem or "")
    (snippet,) = build_snippets(instance, password, language=snippet_id)
    directory.mkdir()
    (directory / f"{PG_NAME}-ca.pem").write_text(server.ca_pem or "")
    kind = PHP_KINDS[snippet_id]
    path = directory / "snippet"
    if snippet_id in BESIDE_CODE:
        kind, file_name = BESIDE_CODE[snippet_id]
        (directory / FILE_NAMES[snippet_id]).write_text(f"{snippet.code}\n")
        path = directory / file_name
    path.write_text(f"{snippet.resilience}\n")
    return run_php(kind, path, clean_env(directory))
