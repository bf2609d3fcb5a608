"""Checks of stored instances: history, instance summary and audit, never a secret."""

from __future__ import annotations

import json

from instances.checks.service import InstanceCheck
from instances.models import AuditEvent, CheckRun, Instance
from tests.base import LiveServersTestCase, instance_on
from tests.test_checks_engine import certificate_of


class InstanceCheckTests(LiveServersTestCase):
    def test_it_stores_the_run_without_the_password(self):
        instance = instance_on(self.pg_server, self.alpha, "live-pg")
        report = InstanceCheck(instance, actor=self.member).run()
        run = CheckRun.objects.get(instance=instance)
        assert run.status == report.status == "ok"
        assert run.actor == self.member
        assert run.result == report.as_dict()
        assert self.pg_server.password not in json.dumps(run.result)
        assert instance.password_sealed not in json.dumps(run.result)

    def test_it_updates_the_instance_summary(self):
        instance = instance_on(self.redis_server, self.alpha, "live-cache")
        report = InstanceCheck(instance).run()
        instance.refresh_from_db()
        assert instance.last_check_status == "ok"
        assert instance.last_check_at is not None
        assert instance.cert_not_after == certificate_of(report).not_after

    def test_it_keeps_the_last_known_certificate_expiry_when_tls_was_not_reached(self):
        instance = instance_on(self.pg_server, self.alpha, "live-pg")
        InstanceCheck(instance).run()
        instance.refresh_from_db()
        expiry = instance.cert_not_after
        Instance.objects.filter(pk=instance.pk).update(host="nonexistent.invalid")
        instance.refresh_from_db()
        InstanceCheck(instance).run()
        instance.refresh_from_db()
        assert instance.last_check_status == "fail"
        assert instance.cert_not_after == expiry

    def test_it_audits_the_run(self):
        instance = instance_on(self.pg_server, self.alpha, "live-pg", password="wrong-password")
        InstanceCheck(instance, actor=self.member).run()
        event = AuditEvent.objects.get(action="connection_test", instance=instance)
        assert event.actor == self.member
        assert event.outcome == "fail"
        assert event.detail["failed_step"] == "auth"
        assert event.detail["check_run"] == CheckRun.objects.get(instance=instance).pk
        assert "wrong-password" not in json.dumps(event.detail)

    def test_it_records_a_scheduled_run_without_an_actor(self):
        instance = instance_on(self.redis_server, self.alpha, "live-cache")
        InstanceCheck(instance, actor_name="check_instances").run()
        event = AuditEvent.objects.get(action="connection_test", instance=instance)
        assert event.actor is None
        assert event.actor_name == "check_instances"
        assert CheckRun.objects.get(instance=instance).actor is None

    def test_it_finishes_and_stores_the_run_when_the_listener_leaves(self):
        instance = instance_on(self.pg_server, self.alpha, "live-pg")
        steps = InstanceCheck(instance, actor=self.member).steps()
        assert next(steps).name == "resolve"
        steps.close()  # what a web server does when the browser goes away
        run = CheckRun.objects.get(instance=instance)
        assert [s["name"] for s in run.result["steps"]] == [
            "resolve",
            "tcp",
            "tls",
            "auth",
            "query",
            "limits",
        ]
        assert run.status == "ok"
