"""What bench/load.py measures, started for real on loopback: the portal under gunicorn
exactly as the Dockerfile's CMD starts it (only the bind address is 127.0.0.1 and a free
port), its database on the machine's PostgreSQL (a database of its own, created here and
dropped at the end), the machine's Redis as ``REDIS_URL`` (a database number of its own),
and the instances it tests: real TLS PostgreSQL and Valkey servers and tarpits from the
test fixtures (tests/servers.py)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo.servers.ports import LOOPBACK, free_port  # noqa: E402
from tests.servers import ServerInfo, Tarpit, start_postgres, start_redis  # noqa: E402

MACHINE_POSTGRES = "postgres://postgres@127.0.0.1:5432"
READY_SECONDS = 60


@dataclass
class Stack:
    url: str
    pg: ServerInfo
    valkey: ServerInfo
    tarpits: list[Tarpit]
    redis_url: str
    access_log: Path
    error_log: Path


def portal_env(database: str, redis_url: str) -> dict[str, str]:
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    return {
        "DJANGO_SETTINGS_MODULE": "zektor_portal.settings",
        "DATABASE_URL": f"{MACHINE_POSTGRES}/{database}",
        "REDIS_URL": redis_url,
        "ZEKTOR_SECRET_KEY": secrets.token_urlsafe(48),
        "ZEKTOR_ENCRYPTION_KEYS": f"bench:{key}",
        "ZEKTOR_ALLOWED_HOSTS": LOOPBACK,
        # The instances listen on 127.0.0.1 (the portal warns about it: zektor.W005).
        "ZEKTOR_CHECK_ALLOW_LOOPBACK": "true",
    }


def gunicorn_command(port: int) -> list[str]:
    """The Dockerfile's CMD, with the bind address on loopback and this venv's gunicorn."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    found = re.search(r"^CMD\s+(\[.*\])\s*$", text, re.MULTILINE)
    if found is None:
        raise SystemExit("bench: no CMD [...] line in the Dockerfile")
    command = json.loads(found.group(1))
    command[0] = str(Path(sys.executable).parent / command[0])
    command[command.index("--bind") + 1] = f"{LOOPBACK}:{port}"
    return command


@contextlib.contextmanager
def database(name: str) -> Iterator[None]:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise SystemExit(f"bench: {name!r} is not a plain database name")
    with psycopg.connect(f"{MACHINE_POSTGRES}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield
    finally:
        with psycopg.connect(f"{MACHINE_POSTGRES}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def forget_portal_keys(redis_url: str, pattern: str = "zektor:*") -> None:
    """Delete what the portal keeps in its Redis database (rate-limit counters, runs)."""
    client = redis.Redis.from_url(redis_url)
    with client:
        keys = list(client.scan_iter(pattern, count=1000))
        if keys:
            client.delete(*keys)


@contextlib.contextmanager
def instances() -> Iterator[tuple[ServerInfo, ServerInfo, list[Tarpit]]]:
    pg, valkey = start_postgres(name="load-pg"), start_redis(name="load-valkey")
    tarpits = [Tarpit() for _ in range(5)]
    try:
        yield pg, valkey, tarpits
    finally:
        for tarpit in tarpits:
            tarpit.stop()
        pg.stop()
        valkey.stop()


@contextlib.contextmanager
def gunicorn(env: dict[str, str], logs: Path) -> Iterator[tuple[str, Path, Path]]:
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env={**env, "ZEKTOR_BOOTSTRAP": "true"},
        check=True,
    )
    port = free_port()
    access, errors = logs / "access.log", logs / "error.log"
    with access.open("wb") as out, errors.open("wb") as err:
        command = gunicorn_command(port)
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=err, start_new_session=True
        )
    url = f"http://{LOOPBACK}:{port}"
    try:
        _wait_healthy(url, process, errors)
        yield url, access, errors
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # gunicorn and its workers: this session only
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_healthy(url: str, process: subprocess.Popen, errors: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"bench: gunicorn exited:\n{errors.read_text()[-2000:]}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/healthz", timeout=2) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"bench: gunicorn did not answer /healthz within {READY_SECONDS} s")


def check_loopback(redis_url: str) -> None:
    host = urlsplit(redis_url).hostname
    if host not in (LOOPBACK, "localhost"):
        raise SystemExit("bench: the load benchmark talks to loopback only")


@contextlib.contextmanager
def running(database_name: str, redis_url: str, logs: Path) -> Iterator[Stack]:
    """Everything up, this process's Django configured like the portal's (same database,
    same keys) so it can add users and instances and count stored runs; all down after."""
    check_loopback(redis_url)
    env = portal_env(database_name, redis_url)
    with contextlib.ExitStack() as stack:
        stack.enter_context(database(database_name))
        os.environ.update(env)
        import django
        from django.core.management import call_command
        from django.db import connections

        django.setup()
        call_command("migrate", verbosity=0)
        stack.callback(connections.close_all)  # before the database is dropped
        forget_portal_keys(redis_url)
        stack.callback(forget_portal_keys, redis_url)
        pg, valkey, tarpits = stack.enter_context(instances())
        url, access, errors = stack.enter_context(gunicorn(env, logs))
        yield Stack(url, pg, valkey, tarpits, redis_url, access, errors)
