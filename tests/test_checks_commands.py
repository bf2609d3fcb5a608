"""check_connection and check_instances: exit codes, JSON on stdout, history, no secrets."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from instances.models import AuditEvent, CheckRun, Instance
from tests.base import BaseTestCase, LiveServersTestCase, instance_on
from tests.test_checks_engine import REPORT_KEYS

ROOT = Path(__file__).resolve().parent.parent


def run_command(name: str, *args, **options) -> tuple[str, str, int]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=err, **options)
    except CommandError as exc:
        return out.getvalue(), err.getvalue() + str(exc), exc.returncode
    return out.getvalue(), err.getvalue(), 0


class CheckCommandTests(LiveServersTestCase):
    def setUp(self) -> None:
        # The base instances name hosts that do not exist; these tests want live ones only.
        Instance.objects.all().delete()
        self.live_pg = instance_on(self.pg_server, self.alpha, "live-pg")
        self.live_cache = instance_on(self.redis_server, self.alpha, "live-cache")
        self.bad_pg = instance_on(self.pg_server, self.alpha, "bad-pg", password="wrong-pw")

    def test_it_prints_the_report_as_json_and_exits_0(self):
        out, err, code = run_command("check_connection", "live-pg", json=True)
        assert code == 0, err
        report = json.loads(out)
        assert set(report) == REPORT_KEYS
        assert report["instance"] == "live-pg"
        assert report["status"] == "ok"
        assert [s["name"] for s in report["steps"]] == [
            "resolve",
            "tcp",
            "tls",
            "auth",
            "query",
            "limits",
        ]
        assert self.pg_server.password not in out + err

    def test_it_exits_1_when_the_check_fails(self):
        out, err, code = run_command("check_connection", "bad-pg", json=True)
        assert code == 1
        assert json.loads(out)["status"] == "fail"
        assert "wrong-pw" not in out + err

    def test_it_exits_2_for_an_unknown_instance(self):
        out, err, code = run_command("check_connection", "no-such-instance", json=True)
        assert code == 2
        assert out == ""
        assert "no-such-instance" in err

    def test_it_exits_2_for_a_bad_timeout(self):
        assert run_command("check_connection", "live-pg", timeout=0)[2] == 2
        assert run_command("check_connection", "live-pg", timeout=1000)[2] == 2

    def test_it_stores_history_without_an_actor(self):
        run_command("check_connection", "live-cache", timeout=2.5)
        run = CheckRun.objects.get(instance=self.live_cache)
        assert run.actor is None
        event = AuditEvent.objects.get(action="connection_test", instance=self.live_cache)
        assert event.actor_name == "manage.py check_connection"

    def test_it_prints_a_readable_table_without_json(self):
        out, _, code = run_command("check_connection", "live-cache")
        assert code == 0
        assert out.startswith("live-cache (valkey): OK")
        assert "tls" in out

    def test_it_checks_several_instances_in_the_order_given(self):
        out, err, code = run_command(
            "check_instances", "live-cache", "live-pg", json=True, concurrency=2
        )
        assert code == 0, err
        reports = json.loads(out)
        assert [r["instance"] for r in reports] == ["live-cache", "live-pg"]
        assert all(set(r) == REPORT_KEYS for r in reports)
        assert CheckRun.objects.count() == 2

    def test_it_exits_1_when_any_instance_failed(self):
        out, err, code = run_command("check_instances", all=True, json=True, concurrency=3)
        assert code == 1
        reports = json.loads(out)
        assert sorted(r["instance"] for r in reports) == ["bad-pg", "live-cache", "live-pg"]
        assert "bad-pg" in err
        assert {r["instance"]: r["status"] for r in reports}["bad-pg"] == "fail"
        assert self.pg_server.password not in out + err
        self.live_pg.refresh_from_db()
        assert self.live_pg.last_check_status == "ok"

    def test_it_exits_2_for_an_unknown_name_and_checks_nothing(self):
        _, err, code = run_command("check_instances", "live-pg", "ghost", json=True)
        assert code == 2
        assert "ghost" in err
        assert not CheckRun.objects.exists()

    def test_it_exits_2_without_names_or_all(self):
        assert run_command("check_instances")[2] == 2
        assert run_command("check_instances", "--all", concurrency=0)[2] == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["check_connection"],
        ["check_connection", "x", "--timeout", "soon"],
        ["check_instances", "--concurrency", "many"],
    ],
)
def test_it_exits_2_on_bad_usage_from_the_command_line(argv):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""


class UndecryptableTests(BaseTestCase):
    def test_it_names_the_key_when_a_password_cannot_be_decrypted(self):
        Instance.objects.filter(pk=self.pg.pk).update(password_sealed="v1:gone:AAAA")
        for command, args in (
            ("check_connection", ["alpha-pg"]),
            ("check_instances", ["alpha-pg"]),
        ):
            out, err, code = run_command(command, *args, json=True)
            assert code == 1
            assert out == ""
            assert "could not be decrypted" in err and "gone" in err
