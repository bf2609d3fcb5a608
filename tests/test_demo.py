"""load_demo: real TLS demo servers that the connection test reaches, run after run."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings

from demo import stack
from demo.servers import binaries
from demo.servers.readiness import pid_alive
from instances.models import Instance, Team
from tests.base import ALLOW_LOOPBACK, BaseTestCase, stored_password
from tests.servers import free_port, require_binary, unavailable
from tests.test_checks_commands import run_command

DEMO_INSTANCES = ["demo-postgres", "demo-valkey", "demo-wrong-password"]


@pytest.fixture(autouse=True)
def _own_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Free ports instead of the demo's fixed 55432 and 56379, which a `make run` or another
    test run on this machine may hold or grab between our check and the server's bind."""
    ports = {stack.POSTGRESQL: free_port(), stack.VALKEY: free_port()}
    monkeypatch.setattr(stack, "PREFERRED_PORTS", ports)


@pytest.fixture
def demo_root() -> Iterator[Path]:
    """A demo data dir under /tmp (the postgres account must reach it); servers stopped
    and files removed afterwards, whatever the test did."""
    parent = Path(tempfile.mkdtemp(prefix="zektor-demo-"))
    parent.chmod(0o755)
    root = parent / "demo"
    try:
        yield root
    finally:
        try:
            stack.stop_all(root)
        finally:
            shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def closed_root() -> Iterator[Path]:
    """The demo data dir of a clone in a fresh ``mktemp -d`` folder (mode 0700, like root's
    home folder): the postgres account cannot enter it. Everything removed afterwards."""
    parent = Path(tempfile.mkdtemp(prefix="zektor-clone-"))
    root = parent / "clone" / ".data" / "demo"
    try:
        yield root
    finally:
        try:
            stack.remove_all(root)
        finally:
            shutil.rmtree(parent, ignore_errors=True)


def require_demo_binaries() -> None:
    for name, *alternatives in (["pg_ctl"], ["initdb"], ["valkey-server", "redis-server"]):
        require_binary(name, *alternatives)


@pytest.mark.servers
@override_settings(DEBUG=True, ZEKTOR_CHECK_DENY_NETWORKS=ALLOW_LOOPBACK, ZEKTOR_CHECK_TIMEOUT=5.0)
class DemoTestCase(BaseTestCase):
    root: Path

    def load_demo(self, *args: str) -> str:
        out, err, code = run_command("load_demo", "--data-dir", str(self.root), *args)
        assert code == 0, err
        assert "skipped" not in err and "did not start" not in err, err
        return out

    def check(self, name: str) -> dict:
        out, err, _ = run_command("check_connection", name, json=True)
        assert out, err
        return json.loads(out)

    def assert_ok(self, name: str) -> dict:
        report = self.check(name)
        assert report["status"] == "ok", report
        assert report["tls"]["certificate"]["hostname_match"] is True
        return report


class DemoServerTests(DemoTestCase):
    @pytest.fixture(autouse=True)
    def _demo_root(self, demo_root: Path) -> None:
        require_demo_binaries()
        self.root = demo_root

    def state(self) -> dict:
        return json.loads((self.root / "state.json").read_text())

    def test_it_starts_servers_that_the_connection_test_reaches(self):
        out = self.load_demo()
        assert "started" in out
        postgres, valkey = self.assert_ok("demo-postgres"), self.assert_ok("demo-valkey")
        assert [s["status"] for s in postgres["steps"]] == ["ok"] * 6
        assert valkey["server"]["max_connections"] == 256
        certificate = postgres["tls"]["certificate"]
        assert "Zektor Demo" in certificate["subject"]
        assert 3640 < certificate["days_left"] <= 3650
        instance = Instance.objects.get(name="demo-postgres")
        assert instance.team == Team.objects.get(name="Demo")
        assert (instance.host, instance.sslmode) == ("localhost", "verify-full")
        assert instance.ca_cert == (self.root / "ca.pem").read_text()
        assert instance.port == self.state()["postgresql"]["port"]

    def test_it_keeps_passwords_secret_and_hard_to_quote(self):
        out = self.load_demo()
        for name in ("demo-postgres", "demo-valkey"):
            instance = Instance.objects.get(name=name)
            password = stored_password(instance)
            assert set("'\"$ @:/") <= set(password)
            assert password not in instance.password_sealed
            assert password not in out
            for path in self.root.rglob("*"):
                if path.is_file():
                    assert password.encode() not in path.read_bytes(), path

    def test_it_shows_a_helpful_failure_for_the_wrong_password_instance(self):
        self.load_demo()
        report = self.check("demo-wrong-password")
        steps = {step["name"]: step for step in report["steps"]}
        assert report["status"] == "fail"
        assert [steps[n]["status"] for n in ("resolve", "tcp", "tls")] == ["ok"] * 3
        assert steps["auth"]["status"] == "fail"
        assert "password" in steps["auth"]["hint"]
        assert steps["query"]["status"] == "skipped"

    def test_it_reuses_running_servers(self):
        self.load_demo()
        first, passwords = self.state(), self.passwords()
        out = self.load_demo()
        assert out.count("already running") == 2
        assert self.state() == first
        assert self.passwords() == passwords
        self.assert_ok("demo-postgres")
        self.assert_ok("demo-valkey")

    def test_it_resets_server_passwords_when_the_portal_forgot_them(self):
        self.load_demo()
        old = self.passwords()
        Instance.objects.filter(name__in=DEMO_INSTANCES).delete()
        self.load_demo()
        assert self.passwords() != old
        self.assert_ok("demo-postgres")
        self.assert_ok("demo-valkey")

    def test_it_stops_the_servers_and_restarts_them_on_the_same_ports(self):
        self.load_demo()
        before = self.state()
        out = self.load_demo("--stop")
        assert out.count("stopped (pid") == 2
        assert not any(pid_alive(server["pid"]) for server in before.values())
        assert self.check("demo-postgres")["status"] == "fail"
        assert "was not running" in self.load_demo("--stop")
        self.load_demo()
        after = self.state()
        assert {e: s["port"] for e, s in after.items()} == {e: s["port"] for e, s in before.items()}
        self.assert_ok("demo-postgres")
        self.assert_ok("demo-valkey")

    def passwords(self) -> dict[str, str]:
        return {
            i.name: stored_password(i) for i in Instance.objects.filter(name__in=DEMO_INSTANCES)
        }


class DemoInClosedFolderTests(DemoTestCase):
    """``make run`` from a clone the postgres account cannot enter, as CI (root) runs it."""

    @pytest.fixture(autouse=True)
    def _closed_root(self, closed_root: Path) -> None:
        require_demo_binaries()
        self.root = closed_root

    def test_it_starts_both_servers_from_a_folder_closed_to_other_users(self):
        out = self.load_demo()
        self.assert_ok("demo-postgres")
        self.assert_ok("demo-valkey")
        home = stack.postgres_home(self.root)
        if os.geteuid() == 0:  # PostgreSQL runs as 'postgres', which cannot enter the clone
            assert (self.root / "postgres").is_symlink()
            assert home.parent.parent == stack.SHARED_PARENT
            assert f"its data is in {home}" in out
        else:  # PostgreSQL runs as ourselves, in the clone
            assert home == self.root / "postgres"
        assert "already running" in self.load_demo()
        self.load_demo("--stop")
        self.load_demo()  # restarts from the same shared home
        self.assert_ok("demo-postgres")
        assert stack.postgres_home(self.root) == home
        assert "demo data removed" in self.load_demo("--remove")
        assert not home.exists() and not self.root.exists()

    def test_it_says_what_happened_when_postgres_still_cannot_start(self):
        if os.geteuid() != 0:
            unavailable("only root runs PostgreSQL as another account")
        closed = Path(tempfile.mkdtemp(prefix="zektor-closed-"))  # mode 0700
        try:
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(stack, "SHARED_PARENT", closed)
                _, err, code = run_command("load_demo", "--data-dir", str(self.root))
        finally:
            shutil.rmtree(closed, ignore_errors=True)
        assert code == 0
        [line] = [line for line in err.splitlines() if "did not start" in line]
        assert line.startswith("Demo PostgreSQL server did not start: the 'postgres' account")
        assert f"can enter neither {self.root}" in line
        assert "Clone the repository where that account can enter" in line
        assert "Traceback" not in err
        self.assert_ok("demo-valkey")


@override_settings(DEBUG=True)
class DemoWithoutServersTests(BaseTestCase):
    @pytest.fixture(autouse=True)
    def _no_binaries(self, demo_root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
        monkeypatch.setattr(binaries, "PG_BIN_GLOBS", ())
        monkeypatch.delenv("ZEKTOR_PG_BINDIR", raising=False)
        monkeypatch.setenv("PATH", str(tmp_path))
        self.root = demo_root

    def test_it_says_why_and_still_loads_the_demo_data(self):
        out, err, code = run_command("load_demo", "--data-dir", str(self.root))
        assert code == 0
        skipped = [line for line in err.splitlines() if "skipped" in line]
        assert len(skipped) == 2
        assert "'postgres' not found" in skipped[0]
        assert "'valkey-server / redis-server' not found" in skipped[1]
        assert set(DEMO_INSTANCES) <= set(Instance.objects.values_list("name", flat=True))
        assert "sign in as 'demo'" in out


@override_settings(DEBUG=False)
class DemoOutsideDebugTests(BaseTestCase):
    def test_it_refuses_to_run_without_debug(self):
        _, err, code = run_command("load_demo", "--data-dir", "/nonexistent")
        assert code == 2
        assert "ZEKTOR_DEBUG" in err
