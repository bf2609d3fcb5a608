"""Several portal processes at once, each its own OS process on one shared database
(SQLite file, and the machine's PostgreSQL): the same alert is sent once."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tests.receivers import HttpReceiver
from tests.servers import unavailable

ROOT = Path(__file__).resolve().parent.parent
TEST_KEYS = "test1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="


def _postgres_url(name: str) -> str:
    configured = os.environ.get("DATABASE_URL", "")
    base = (
        configured
        if configured.startswith("postgres")
        else "postgres://postgres@127.0.0.1:5432/postgres"
    )
    return urlunsplit(urlsplit(base)._replace(path=f"/{name}"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'portal.sqlite3'}"
        return
    name = f"zektor_alerts_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(_postgres_url("postgres"), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        unavailable(f"PostgreSQL is not reachable for the multi-process test: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield _postgres_url(name)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Portal:
    """manage.py in child processes, on one database, reaching loopback test servers."""

    def __init__(self, database_url: str) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("ZEKTOR_", "DJANGO_"))}
        self.env = {
            **clean,
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "zektor_portal.settings",
            "ZEKTOR_SECRET_KEY": "zektor-test-secret-key-0123456789abcdef",
            "ZEKTOR_ENCRYPTION_KEYS": TEST_KEYS,
            "ZEKTOR_CHECK_DENY_NETWORKS": "0.0.0.0/8,169.254.0.0/16",
            "ZEKTOR_CHECK_ALLOW_LOOPBACK": "true",
            "ZEKTOR_CHECK_TIMEOUT": "3",
        }

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *args: str, ok: tuple[int, ...] = (0,)) -> str:
        process = self.start(*args)
        out, err = process.communicate(timeout=120)
        assert process.returncode in ok, f"{args}: {process.returncode}\n{err}"
        return out

    def at_once(self, *args: str) -> None:
        processes = [self.start(*args) for _ in range(2)]
        for process in processes:
            _, err = process.communicate(timeout=120)
            assert process.returncode in (0, 1), err


@pytest.fixture
def portal(database_url, closed_port, tmp_path) -> Iterator[Portal]:
    portal = Portal(database_url)
    portal.run("migrate", "--noinput", "-v0")
    records = [
        {
            "name": "down-cache",
            "engine": "valkey",
            "team": "Alpha",
            "tier": "starter",
            "host": "127.0.0.1",
            "port": closed_port,
            "password": "not-a-real-password",
            "tls": False,
        }
    ]
    (tmp_path / "instances.json").write_text(json.dumps(records))
    portal.run("import_instances", str(tmp_path / "instances.json"))
    yield portal


@pytest.fixture
def receiver(portal) -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    portal.run("add_alert_channel", "Alpha", "--webhook", receiver.url())
    yield receiver
    receiver.stop()


def test_two_processes_at_once_alert_once(portal, receiver):
    for _ in range(3):
        portal.at_once("check_instances", "--all", "--notify")
    events = [json.loads(request.body)["event"] for request in receiver.requests]
    assert events == ["failing"]


def test_monitor_alerts_and_stops_on_sigterm(portal, receiver):
    process = portal.start("monitor", "--interval", "0.01", "--concurrency", "2")
    deadline = time.monotonic() + 60
    while len(receiver.requests) < 1 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "stopped after" in err
    assert [json.loads(r.body)["event"] for r in receiver.requests] == ["failing"]


def test_threads_reporting_the_same_change_at_once_alert_once(portal):
    process = subprocess.run(
        [sys.executable, "-m", "tests.alert_race", "4"],
        cwd=ROOT,
        env=portal.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr
    assert json.loads(process.stdout) == ["failing", "recovered"] * 3
