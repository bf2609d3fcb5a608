"""Password rotation against real TLS PostgreSQL and Redis servers (fresh per test)."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from instances.engines import engine_for, target_for
from instances.models import AuditEvent, Instance, Rotation, RotationState
from instances.rotation import machine
from tests.base import BaseTestCase, instance_on, stored_password
from tests.rotation_support import Crash, crash_at, logs_in
from tests.servers import HOSTILE_PASSWORD

STEP_ACTIONS = [
    "rotation_started",
    "rotation_applied",
    "rotation_verified",
    "rotation_promoted",
    "rotation_done",
]


def run_command(name: str, *args: str) -> dict:
    out = StringIO()
    call_command("rotate_password", name, "--json", *args, stdout=out, stderr=StringIO())
    return json.loads(out.getvalue())


# The test servers listen on loopback, which the portal refuses by default.
@override_settings(ZEKTOR_CHECK_DENY_NETWORKS=[])
class RotationTestCase(BaseTestCase):
    @pytest.fixture(autouse=True)
    def _fixtures(self, make_pg, make_redis, closed_port, caplog):
        self.closed_port = closed_port
        self.make_pg = make_pg
        self.make_redis = make_redis
        self.caplog = caplog
        caplog.set_level(logging.DEBUG)

    def assert_stored_password_works(self, server, instance: Instance) -> None:
        instance.refresh_from_db()
        self.assertTrue(
            logs_in(server, stored_password(instance)), "the stored password must log in"
        )

    def actions(self, rotation: Rotation) -> list[str]:
        return list(machine.transitions(rotation).values_list("action", flat=True))


class PostgresqlRotationTests(RotationTestCase):
    def test_it_rotates_and_only_the_new_password_logs_in(self):
        server = self.make_pg()
        instance = instance_on(server, self.alpha, "rot-pg")
        rotation = machine.advance(machine.start(instance))
        self.assertEqual(rotation.state, RotationState.DONE)
        instance.refresh_from_db()
        self.assertNotEqual(stored_password(instance), HOSTILE_PASSWORD)
        self.assertTrue(logs_in(server, stored_password(instance)))
        self.assertFalse(logs_in(server, HOSTILE_PASSWORD))
        self.assertEqual(self.actions(rotation), STEP_ACTIONS)
        self.assertEqual((rotation.pending_sealed, rotation.old_sealed), ("", ""))

    def test_it_sends_a_scram_verifier_not_the_plaintext(self):
        server = self.make_pg()
        instance = instance_on(server, self.alpha, "rot-pg")
        machine.advance(machine.start(instance, new_password="admin-chosen 'pässword' $x"))
        self.assertTrue(logs_in(server, "admin-chosen 'pässword' $x"))
        with server.admin() as conn:
            stored = conn.execute(
                "SELECT rolpassword FROM pg_authid WHERE rolname = %s", [server.username]
            ).fetchone()[0]
        self.assertTrue(stored.startswith("SCRAM-SHA-256$"))
        self.assertNotIn("pässword", server.log_tail(500))

    def test_it_finishes_after_a_crash_at_every_step(self):
        for point in ("created", "server-applied", "applied", "verified", "promoted"):
            server = self.make_pg()
            instance = instance_on(server, self.alpha, f"crash-{point}")
            rotation = machine.start(instance)
            if point != "created":
                with self.assertRaises(Crash):
                    machine.advance(rotation, checkpoint=crash_at(point))
            report = run_command(instance.name)
            self.assertEqual(report["state"], RotationState.DONE, point)
            self.assertTrue(report["resumed"], point)
            self.assert_stored_password_works(server, instance)
            self.assertFalse(logs_in(server, HOSTILE_PASSWORD), point)

    def test_it_undoes_an_unpromoted_rotation_on_request(self):
        server = self.make_pg()
        instance = instance_on(server, self.alpha, "rot-pg")
        rotation = machine.start(instance)
        with self.assertRaises(Crash):
            machine.advance(rotation, checkpoint=crash_at("applied"))
        self.assertEqual(run_command(instance.name, "--undo")["state"], RotationState.UNDONE)
        instance.refresh_from_db()
        self.assertEqual(stored_password(instance), HOSTILE_PASSWORD)
        self.assertTrue(logs_in(server, HOSTILE_PASSWORD))

    def test_it_refuses_a_second_rotation_while_one_is_unfinished(self):
        instance = instance_on(self.make_pg(), self.alpha, "rot-pg")
        first = machine.start(instance)
        with self.assertRaisesRegex(machine.RotationInProgress, "already in progress"):
            machine.start(instance)
        self.assertEqual(list(instance.rotations.all()), [first])
        refused = AuditEvent.objects.get(action="rotation_started", outcome="refused")
        self.assertIn("already in progress", refused.detail["reason"])

    def test_it_needs_attention_when_the_stored_password_is_wrong_and_loses_nothing(self):
        server = self.make_pg()
        instance = instance_on(server, self.alpha, "rot-pg", password="not-the-password")
        rotation = machine.advance(machine.start(instance))
        self.assertEqual(rotation.state, RotationState.NEEDS_ATTENTION)
        self.assertIn("Django admin", rotation.reason)
        self.assertIn("rotate_password rot-pg", rotation.reason)
        self.assertTrue(logs_in(server, HOSTILE_PASSWORD), "the server was not touched")
        self.assertEqual(rotation.unseal("old_sealed"), "not-the-password")
        with self.assertRaises(CommandError) as failed:
            call_command("rotate_password", "rot-pg", stdout=StringIO())
        self.assertEqual(failed.exception.returncode, 1)
        # The admin sets the working password; running again abandons the stuck rotation.
        instance.set_password(HOSTILE_PASSWORD)
        instance.save()
        self.assertEqual(run_command("rot-pg")["state"], RotationState.UNDONE)
        self.assertEqual(run_command("rot-pg")["state"], RotationState.DONE)
        self.assert_stored_password_works(server, instance)

    def test_it_needs_attention_when_the_server_is_unreachable_and_keeps_both_passwords(self):
        server = self.make_pg()
        instance = instance_on(server, self.alpha, "rot-pg", port=self.closed_port)
        rotation = machine.advance(machine.start(instance))
        self.assertEqual(rotation.state, RotationState.NEEDS_ATTENTION)
        self.assertIn("Nothing was lost", rotation.reason)
        self.assertEqual(rotation.unseal("old_sealed"), HOSTILE_PASSWORD)
        self.assertTrue(rotation.unseal("pending_sealed"))
        Instance.objects.filter(pk=instance.pk).update(port=server.port)
        rotation.refresh_from_db()
        self.assertEqual(machine.advance(rotation).state, RotationState.DONE)
        self.assert_stored_password_works(server, instance)

    def test_it_never_contacts_a_denied_network_and_keeps_both_passwords(self):
        for server in (self.make_pg(), self.make_redis()):
            instance = instance_on(server, self.alpha, f"denied-{server.engine}")
            with override_settings(ZEKTOR_CHECK_ALLOW_LOOPBACK=False):
                rotation = machine.advance(machine.start(instance))
            self.assertEqual(rotation.state, RotationState.NEEDS_ATTENTION)
            self.assertIn("127.0.0.1, a loopback address", rotation.reason)
            self.assertIn("Not contacted", rotation.reason)
            self.assertEqual(rotation.unseal("old_sealed"), HOSTILE_PASSWORD)
            self.assertTrue(logs_in(server, HOSTILE_PASSWORD), "the server was not touched")

    def test_it_shows_who_is_connected_before_rotating(self):
        server = self.make_pg()
        instance = instance_on(server, self.alpha, "rot-pg")
        with server.connect(application_name="billing-worker"):
            preview = engine_for(instance).connected_clients(
                target_for(instance, stored_password(instance))
            )
        self.assertGreaterEqual(preview["clients"], 1)
        self.assertIn("billing-worker", preview["applications"])
        self.assertIn("127.0.0.1", preview["addresses"])

    def test_it_keeps_every_secret_out_of_audit_records_and_logs(self):
        server = self.make_pg()
        instance = instance_on(server, self.alpha, "rot-pg")
        rotation = machine.start(instance)
        new = rotation.unseal("pending_sealed")
        with self.assertRaises(Crash):
            machine.advance(rotation, checkpoint=crash_at("server-applied"))
        run_command("rot-pg")
        wrong = instance_on(server, self.alpha, "rot-pg-wrong", password="wrong-" + new)
        machine.advance(machine.start(wrong))
        self.assert_no_secret_recorded([HOSTILE_PASSWORD, new])

    def assert_no_secret_recorded(self, secrets: list[str]) -> None:
        events = list(AuditEvent.objects.values())
        self.assertTrue(events)
        dumped = json.dumps(events, default=str)
        for secret in secrets:
            self.assertNotIn(secret, dumped)
            self.assertNotIn(secret, self.caplog.text)


class ValkeyRotationTests(RotationTestCase):
    def test_it_keeps_the_old_password_during_the_grace_period_only(self):
        server = self.make_redis()
        instance = instance_on(server, self.alpha, "rot-cache")
        rotation = machine.advance(machine.start(instance, grace_seconds=3600))
        self.assertEqual(rotation.state, RotationState.GRACE)
        assert rotation.grace_until is not None
        self.assertGreater(rotation.grace_until, timezone.now() + timedelta(minutes=59))
        instance.refresh_from_db()
        new = stored_password(instance)
        self.assertTrue(logs_in(server, new))
        self.assertTrue(logs_in(server, HOSTILE_PASSWORD), "old works during the grace period")
        self.assertEqual(run_command("rot-cache")["state"], RotationState.GRACE)
        self.assertTrue(logs_in(server, HOSTILE_PASSWORD))
        Rotation.objects.filter(pk=rotation.pk).update(
            grace_until=timezone.now() - timedelta(seconds=1)
        )
        call_command("rotate_password", "--finish-due", stdout=StringIO())
        rotation.refresh_from_db()
        self.assertEqual(rotation.state, RotationState.DONE)
        self.assertFalse(logs_in(server, HOSTILE_PASSWORD), "old stops after the grace period")
        self.assertTrue(logs_in(server, new))
        self.assertIn("rotation_old_revoked", self.actions(rotation))
        server.restart()
        self.assertTrue(logs_in(server, new), "ACL SAVE made the change survive a restart")
        self.assertFalse(logs_in(server, HOSTILE_PASSWORD))

    def test_it_finishes_a_grace_period_on_request(self):
        server = self.make_redis()
        instance = instance_on(server, self.alpha, "rot-cache")
        rotation = machine.advance(machine.start(instance, grace_seconds=3600))
        rotation = machine.advance(rotation, finish_grace=True)
        self.assertEqual(rotation.state, RotationState.DONE)
        self.assertFalse(logs_in(server, HOSTILE_PASSWORD))
        self.assert_stored_password_works(server, instance)

    def test_it_finishes_after_a_crash_at_every_step(self):
        points = ("created", "server-applied", "applied", "verified", "promoted", "grace")
        for point in (*points, "server-revoked"):
            server = self.make_redis()
            instance = instance_on(server, self.alpha, f"crash-{point}")
            rotation = machine.start(instance, grace_seconds=60)
            if point != "created":
                with self.assertRaises(Crash):
                    machine.advance(rotation, checkpoint=crash_at(point), finish_grace=True)
            report = run_command(instance.name, "--finish-now")
            self.assertEqual(report["state"], RotationState.DONE, point)
            self.assert_stored_password_works(server, instance)
            self.assertFalse(logs_in(server, HOSTILE_PASSWORD), point)

    def test_it_rotates_a_named_acl_user(self):
        server = self.make_redis()
        instance = instance_on(server, self.alpha, "rot-cache", username="app")
        rotation = machine.advance(machine.start(instance))
        self.assertEqual(rotation.state, RotationState.DONE)
        instance.refresh_from_db()
        self.assertTrue(logs_in(server, stored_password(instance), username="app"))
        self.assertFalse(logs_in(server, HOSTILE_PASSWORD, username="app"))
        self.assertTrue(logs_in(server, HOSTILE_PASSWORD), "the default user is untouched")

    def test_it_falls_back_to_requirepass_with_a_warning(self):
        server = self.make_redis()
        with server.admin() as admin:
            admin.execute_command("ACL", "SETUSER", "default", "-acl")
        instance = instance_on(server, self.alpha, "rot-cache")
        rotation = machine.advance(machine.start(instance, grace_seconds=600))
        self.assertEqual(rotation.state, RotationState.DONE, rotation.reason)
        applied = machine.transitions(rotation).get(action="rotation_applied")
        self.assertIn("requirepass", " ".join(applied.detail["warnings"]))
        self.assertFalse(logs_in(server, HOSTILE_PASSWORD), "no dual-password window")
        self.assert_stored_password_works(server, instance)

    def test_it_needs_attention_when_a_named_user_may_not_change_its_password(self):
        server = self.make_redis()
        with server.admin() as admin:
            admin.execute_command("ACL", "SETUSER", "app", "-acl")
        instance = instance_on(server, self.alpha, "rot-cache", username="app")
        rotation = machine.advance(machine.start(instance))
        self.assertEqual(rotation.state, RotationState.NEEDS_ATTENTION)
        self.assertIn("refused ACL SETUSER", rotation.reason)
        self.assertTrue(logs_in(server, HOSTILE_PASSWORD, username="app"))
        self.assert_stored_password_works(server, instance)

    def test_it_refuses_a_second_rotation_during_the_grace_period(self):
        instance = instance_on(self.make_redis(), self.alpha, "rot-cache")
        machine.advance(machine.start(instance, grace_seconds=600))
        with self.assertRaises(machine.RotationInProgress):
            machine.start(instance)

    def test_it_keeps_every_secret_out_of_audit_records_and_logs(self):
        server = self.make_redis()
        instance = instance_on(server, self.alpha, "rot-cache")
        rotation = machine.start(instance, grace_seconds=60)
        new = rotation.unseal("pending_sealed")
        machine.advance(rotation, finish_grace=True)
        events = json.dumps(list(AuditEvent.objects.values()), default=str)
        for secret in (HOSTILE_PASSWORD, new):
            self.assertNotIn(secret, events)
            self.assertNotIn(secret, self.caplog.text)
