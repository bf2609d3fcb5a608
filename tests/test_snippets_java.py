"""The jdbc and spring-boot snippets run verbatim with Debian's pgjdbc
(libpostgresql-jdbc-java) in one JVM (tests/clients/RunSnippets.java), for every sslmode case
of tests/snippet_runs.py, with the hostile password.

Spring Boot itself is not packaged here: its application.properties is read with
java.util.Properties, as Spring Boot reads it, and connected the way HikariCP does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.servers import unavailable
from tests.snippet_runs import (
    Rendered,
    Run,
    check,
    clean_env,
    make_workdir,
    need,
    params,
    run_ok,
    runs,
)

pytestmark = pytest.mark.servers

CLIENTS_DIR = Path(__file__).resolve().parent / "clients"
PGJDBC = Path("/usr/share/java/postgresql.jar")  # Debian's libpostgresql-jdbc-java
KINDS = {"jdbc": "jdbc", "spring-boot": "spring"}
# pgjdbc names the system bundle's path in the public cases: private cases only.
RUNS = runs("postgresql", KINDS, public=False)


@pytest.fixture(scope="module")
def rendered(request, pg_tls) -> Rendered:
    return Rendered(request, pg_tls.ca_pem)


@pytest.fixture(scope="module")
def java_results(rendered, tmp_path_factory, pg_tls) -> dict[str, Any]:
    need("javac")
    if not PGJDBC.exists():
        unavailable(f"{PGJDBC} is missing (Debian: libpostgresql-jdbc-java)")
    workdir = make_workdir(tmp_path_factory.mktemp("java-snippets"), pg_tls.ca_pem)
    runner = workdir / "runner"
    run_ok(["javac", "-d", str(runner), str(CLIENTS_DIR / "RunSnippets.java")], workdir)
    lines = []
    for item in RUNS:
        name = "Db.java" if item.snippet_id == "jdbc" else "application.properties"
        path = workdir / item.key.replace("/", "_") / name
        path.parent.mkdir()
        path.write_text(rendered.code(item) + "\n")
        lines.append(f"{item.key}\t{KINDS[item.snippet_id]}\t{path}\n")
    (workdir / "jobs.tsv").write_text("".join(lines))
    classpath = f"{runner}:{PGJDBC}"
    out = run_ok(
        ["java", "-cp", classpath, "RunSnippets", "jobs.tsv"], workdir, env=clean_env(workdir)
    )
    return json.loads(out)


@pytest.mark.parametrize("item", params(RUNS))
def test_it_connects_with_java_snippets(java_results, rendered, item: Run):
    result = check(java_results.get(item.key), item)
    if result and item.snippet_id == "jdbc":
        assert result.startswith("PostgreSQL")  # what the snippet's main() prints
    elif result:
        server = rendered.server(item)
        assert (result["user"], result["ssl"]) == (server.username, "true")
        assert result["statement_timeout"] == ("30s" if item.variant == "resilience" else "0")
        assert result["pool"] == "10"
