"""Node.js snippets run verbatim by their real clients (tests/node/package.json: pg, drizzle-orm,
postgres, Prisma 7 with @prisma/adapter-pg, ioredis, redis, bullmq) for every TLS case of
tests/snippet_runs.py, with the hostile password.

The CommonJS snippets run in one Node process (tests/node/run_snippets.cjs). Each Prisma case
is a project of its own, as the snippet's files lay it out: `prisma generate` runs in it for
real (offline: PRISMA_SCHEMA_ENGINE_BINARY names a stand-in, since only migrations need the
schema engine) and then a Node process queries through the generated client — one process
per project, because `import "dotenv/config"` reads the working directory's .env only once.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.snippet_runs import (
    NODE_DIR,
    PUBLIC_ROOTS,
    Rendered,
    Run,
    batch,
    check,
    clean_env,
    make_workdir,
    node_modules,
    params,
    run_ok,
    runs,
    trust_env,
)

pytestmark = pytest.mark.servers

# snippet id -> (runner kind, names the code exports, names the resilience sample exports)
COMMONJS = {
    "node-pg": ("pg-pool", "pool", "pool, withRetry"),
    "drizzle": ("drizzle", "db, pool", "db, pool"),
    "postgres-js": ("postgres-js", "sql", "sql, withRetry"),
    "ioredis": ("ioredis", "redis", "redis"),
    "node-redis": ("node-redis", "client", "client"),
    "bullmq": ("bullmq", "queue", "queue, worker"),
}
PG_RUNS = runs("postgresql", ["node-pg", "drizzle", "postgres-js"])
VALKEY_RUNS = runs("valkey", ["ioredis", "node-redis", "bullmq"])
PRISMA_RUNS = runs("postgresql", ["prisma"])


@pytest.fixture(scope="module")
def rendered(request, pg_tls) -> Rendered:
    return Rendered(request, pg_tls.ca_pem)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, pg_tls) -> Path:
    directory = make_workdir(tmp_path_factory.mktemp("node-snippets"), pg_tls.ca_pem)
    (directory / "node_modules").symlink_to(node_modules())  # what `npm install` gives a project
    return directory


def node_argv() -> list[str]:
    tsx = NODE_DIR / "node_modules" / "tsx" / "dist" / "loader.mjs"
    return ["node", "--import", tsx.as_uri(), str(NODE_DIR / "run_snippets.cjs")]


@pytest.fixture(scope="module")
def commonjs_results(rendered, workdir) -> dict[str, Any]:
    """One Node process for the private cases, one whose roots hold the test CA for the public."""
    results: dict[str, Any] = {}
    for public in (False, True):
        jobs = []
        for item in PG_RUNS + VALKEY_RUNS:
            if item.case.public != public:
                continue
            kind, code_names, resilience_names = COMMONJS[item.snippet_id]
            names = code_names if item.variant == "code" else resilience_names
            path = workdir / f"{item.key.replace('/', '_')}.cjs"
            path.write_text(f"{rendered.code(item)}\nmodule.exports = {{ {names} }};\n")
            jobs.append({"key": item.key, "kind": kind, "file": str(path), "cwd": str(workdir)})
        env = clean_env(workdir, **trust_env(public, workdir))
        results.update(batch(node_argv(), workdir, jobs, env=env, name=f"public-{public}"))
    return results


def prisma_project(rendered: Rendered, workdir: Path, item: Run) -> Path:
    """The snippet's files in a project directory, the resilience sample as its src/db.ts."""
    project = workdir / "prisma" / item.key.replace("/", "_")
    for file in rendered.snippet(item).files:
        path = project / file.filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(file.code + "\n")
    (project / "src" / "db.ts").write_text(rendered.code(item) + "\n")
    for name in ("snip-pg-ca.pem", PUBLIC_ROOTS):
        (project / name).write_text((workdir / name).read_text())
    return project


def prisma_env(project: Path, public: bool = False) -> dict[str, str]:
    # No DATABASE_URL from outside (CI sets the portal's): .env must provide it.
    return clean_env(
        project,
        CHECKPOINT_DISABLE="1",
        PRISMA_SCHEMA_ENGINE_BINARY="/bin/true",
        **trust_env(public, project),
    )


def prisma_generate(project: Path) -> Path:
    prisma_cli = NODE_DIR / "node_modules" / "prisma" / "build" / "index.js"
    run_ok(["node", str(prisma_cli), "generate"], project, env=prisma_env(project), timeout=120)
    return project / "src" / "generated"


@pytest.fixture(scope="module")
def prisma_results(rendered, workdir) -> dict[str, Any]:
    """`prisma generate` runs for real in the first project; the schema and config of every case
    are the same text (checked), so the others get a copy of its client instead of a rerun.
    The queries run in one Node process for the private cases and one for the public: with
    --preserve-symlinks, each project's own node_modules link gives it its own modules, so its
    `import "dotenv/config"` reads its own .env."""
    projects = {item.key: prisma_project(rendered, workdir, item) for item in PRISMA_RUNS}
    first = next(iter(projects.values()))
    generated = prisma_generate(first)
    for project in projects.values():
        for name in ("prisma/schema.prisma", "prisma.config.ts"):
            assert (project / name).read_text() == (first / name).read_text()
        if project != first:
            shutil.copytree(generated, project / "src" / "generated")
        (project / "node_modules").symlink_to(node_modules())
    node, *rest = node_argv()
    results: dict[str, Any] = {}
    for public in (False, True):
        jobs = [
            {"key": key, "kind": "prisma", "file": str(project / "src" / "db.ts")}
            | {"cwd": str(project)}
            for item, (key, project) in zip(PRISMA_RUNS, projects.items(), strict=True)
            if item.case.public == public
        ]
        env = prisma_env(workdir, public)
        argv = [node, "--preserve-symlinks", *rest]
        results.update(batch(argv, workdir, jobs, name=f"prisma-public-{public}", env=env))
    return results


def assert_pg_row(row: dict[str, Any], rendered: Rendered, item: Run) -> None:
    assert (row["user"], row["ssl"]) == (rendered.server(item).username, True)
    assert row["statement_timeout"] == ("30s" if item.variant == "resilience" else "0")


@pytest.mark.parametrize("item", params(PG_RUNS))
def test_it_queries_with_node_pg_snippets(commonjs_results, rendered, item: Run):
    if row := check(commonjs_results.get(item.key), item):
        assert_pg_row(row, rendered, item)


@pytest.mark.parametrize("item", params(PRISMA_RUNS))
def test_it_generates_and_queries_with_prisma_7(prisma_results, rendered, item: Run):
    if row := check(prisma_results.get(item.key), item):
        assert_pg_row(row, rendered, item)


@pytest.mark.parametrize("item", params(VALKEY_RUNS))
def test_it_pings_with_node_valkey_snippets(commonjs_results, rendered, item: Run):
    if result := check(commonjs_results.get(item.key), item):
        assert (result["ping"], result["user"]) == ("PONG", rendered.server(item).username)
