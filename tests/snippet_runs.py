"""What the tests in tests/test_snippets_*.py share: the TLS cases every snippet runs in, the
instances they render from, and how a batch of snippets runs in one client process.

Every case renders an instance whose private CA is the suite's test CA (saved under the
snippet's ``ca_file`` name in the working directory, as the snippets' comments ask) and runs
the snippets against one of the suite's servers, with the hostile password of
tests/servers.py. A case says whether the snippet must connect: where the instance asks for
verification, a certificate from another CA must be refused, and verify-full must refuse a
certificate for another host name (which verify-ca accepts).

The *public* cases render an instance without a private CA: the snippet then trusts the
system's roots, which the test extends with the test CA the way each client allows it
(NODE_EXTRA_CA_CERTS, SSL_CERT_FILE; see `trust_env`). libpq and pgjdbc snippets name the
system bundle's path instead, which no test may change: they run only in the private cases,
and tests/test_snippets.py checks the path they name.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from instances.models import Instance
from instances.snippets import Snippet, build_snippets
from tests.npm import npm_ci
from tests.servers import ServerInfo, unavailable

NODE_DIR = Path(__file__).resolve().parent / "node"
PG_NAME = "snip-pg"
CACHE_NAME = "snip-cache"


@dataclass(frozen=True)
class Case:
    id: str
    engine: str
    setting: str  # sslmode for PostgreSQL; "tls" or "plain" for Valkey
    server: str  # the tests/servers.py fixture the snippet connects to
    connects: bool
    public: bool = False  # no private CA: the system's roots (extended, see trust_env)


CASES = (
    Case("require", "postgresql", "require", "pg_tls", True),
    Case("verify-ca", "postgresql", "verify-ca", "pg_tls", True),
    Case("verify-full", "postgresql", "verify-full", "pg_tls", True),
    Case("verify-ca-wrong-host", "postgresql", "verify-ca", "pg_wrong_host", True),
    Case("verify-full-wrong-host", "postgresql", "verify-full", "pg_wrong_host", False),
    Case("verify-ca-other-ca", "postgresql", "verify-ca", "pg_unknown_ca", False),
    Case("verify-full-other-ca", "postgresql", "verify-full", "pg_unknown_ca", False),
    Case("tls", "valkey", "tls", "redis_tls", True),
    Case("tls-wrong-host", "valkey", "tls", "redis_wrong_host", False),
    Case("tls-other-ca", "valkey", "tls", "redis_unknown_ca", False),
    Case("plain", "valkey", "plain", "redis_plain", True),
    Case("public-require", "postgresql", "require", "pg_tls", True, public=True),
    Case("public-verify-full", "postgresql", "verify-full", "pg_tls", True, public=True),
    Case("public-verify-ca-other-ca", "postgresql", "verify-ca", "pg_unknown_ca", False, True),
    Case("public-verify-full-other-ca", "postgresql", "verify-full", "pg_unknown_ca", False, True),
    Case("public-tls", "valkey", "tls", "redis_tls", True, public=True),
    Case("public-tls-other-ca", "valkey", "tls", "redis_unknown_ca", False, public=True),
)
# What the clients say when they refuse a certificate (and nothing a hang or a harness bug says).
REFUSAL = re.compile(r"certificate|self.signed|altname|hostname|verify|ssl|tls|went away", re.I)
# Where the test CA is saved as the one extra root the public cases trust.
PUBLIC_ROOTS = "public-roots.pem"


@dataclass(frozen=True)
class Run:
    """One snippet variant in one case; `key` names it in a batch's results."""

    snippet_id: str
    variant: str  # "code" or "resilience"
    case: Case

    @property
    def key(self) -> str:
        return f"{self.snippet_id}/{self.variant}/{self.case.id}"


def runs(
    engine: str,
    snippet_ids: Iterable[str],
    variants: Iterable[str] = ("code", "resilience"),
    *,
    public: bool = True,
) -> list[Run]:
    """Every case of the engine for each snippet (the public ones only with `public`);
    resilience samples (whose TLS settings are the same partial templates as the code's) only
    where they must connect, so no retry loop spends its backoff on a refusal."""
    return [
        Run(snippet_id, variant, case)
        for snippet_id in snippet_ids
        for case in CASES
        if case.engine == engine and (public or not case.public)
        for variant in variants
        if variant == "code" or case.connects
    ]


def trust_env(public: bool, workdir: Path) -> dict[str, str]:
    """For the public cases, the environment that adds the test CA to the system's roots: Node
    reads NODE_EXTRA_CA_CERTS, OpenSSL (Python's ssl, redis-cli, PHP, Ruby) SSL_CERT_FILE."""
    if not public:
        return {}
    roots = str(workdir / PUBLIC_ROOTS)
    return {"NODE_EXTRA_CA_CERTS": roots, "SSL_CERT_FILE": roots}


def params(run_list: list[Run]) -> list[Any]:
    return [pytest.param(run, id=run.key) for run in run_list]


def instance_for(server: ServerInfo, case: Case, ca_pem: str) -> Instance:
    pg = case.engine == "postgresql"
    instance = Instance(
        name=PG_NAME if pg else CACHE_NAME,
        engine=case.engine,
        tier="standard",
        host=server.host,
        port=server.port,
        username=server.username,
        database=server.database or "",
        sslmode=case.setting if pg else "require",
        tls=case.setting != "plain",
        ca_cert="" if case.public or case.setting == "plain" else ca_pem,
    )
    instance.set_password(server.password)
    return instance


class Rendered:
    """The snippets of every case, rendered with the server's real password."""

    def __init__(self, request: pytest.FixtureRequest, ca_pem: str) -> None:
        self.servers: dict[str, ServerInfo] = {}
        self.snippets: dict[tuple[str, str], dict[str, Snippet]] = {}
        for case in CASES:
            server = self.servers.setdefault(case.server, request.getfixturevalue(case.server))
            instance = instance_for(server, case, ca_pem)
            rendered = build_snippets(instance, server.password)
            self.snippets[case.engine, case.id] = {s.id: s for s in rendered}

    def snippet(self, run: Run) -> Snippet:
        return self.snippets[run.case.engine, run.case.id][run.snippet_id]

    def code(self, run: Run) -> str:
        text = getattr(self.snippet(run), run.variant)
        assert text, f"{run.key} has no {run.variant}"
        return text

    def server(self, run: Run) -> ServerInfo:
        return self.servers[run.case.server]


def make_workdir(directory: Path, ca_pem: str) -> Path:
    """The CA under both instances' file names (every private case trusts the test CA), and
    as the extra root of the public cases."""
    for name in (f"{PG_NAME}-ca.pem", f"{CACHE_NAME}-ca.pem", PUBLIC_ROOTS):
        (directory / name).write_text(ca_pem)
    return directory


def need(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        unavailable(f"{program} is not installed")
    return path


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """No PG* / REDISCLI_* / SSL_CERT_* from the caller, a HOME without ~/.postgresql."""
    return {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8", **extra}


def run(
    argv: list[str],
    cwd: Path,
    stdin: str = "",
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=timeout, env=env
    )


def run_ok(argv: list[str], cwd: Path, **kwargs: Any) -> str:
    done = run(argv, cwd, **kwargs)
    assert done.returncode == 0, f"{argv[0]} failed ({done.returncode}): {done.stderr[-4000:]}"
    return done.stdout


def batch(
    argv: list[str], cwd: Path, jobs: list[dict[str, Any]], name: str = "jobs", **kwargs: Any
) -> dict[str, Any]:
    """Runs one client process over a JSON list of jobs; it prints {key: {ok, result|error}}."""
    jobs_file = cwd / f"{name}.json"
    jobs_file.write_text(json.dumps(jobs))
    return json.loads(run_ok([*argv, str(jobs_file)], cwd, **kwargs))


def check(outcome: dict[str, Any] | None, run: Run, connects: bool | None = None) -> Any:
    """The run's result when it must connect; that it failed when it must not."""
    assert outcome is not None, f"{run.key} did not run"
    if run.case.connects if connects is None else connects:
        assert outcome["ok"], f"{run.key}: {outcome.get('error')}"
        return outcome["result"]
    assert not outcome["ok"], f"{run.key} connected to {run.case.server}: {outcome.get('result')}"
    assert REFUSAL.search(outcome["error"]), (
        f"{run.key} failed, but not on the certificate: {outcome}"
    )
    return None


def node_modules() -> Path:
    need("node")
    return npm_ci(NODE_DIR, "prisma", scripts=True)
