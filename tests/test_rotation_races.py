"""Two actors on one rotation (two admins, or an admin and the command), with the real state
machine and real servers: whoever comes second either finds the rotation moved on (and acts
on what is true now) or is told who is at it since when. Every race ends with a stored
password that logs in."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.management import CommandError
from django.db import connection
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from instances.models import Role, Rotation, RotationState, Team
from instances.rotation import lease, machine
from tests.base import instance_on, stored_password
from tests.rotation_support import Crash, crash_at, logs_in
from tests.servers import HOSTILE_PASSWORD
from tests.test_rotation import RotationTestCase, run_command


class RaceTestCase(RotationTestCase):
    def setUp(self) -> None:
        self.second_admin = self.make_user("dave", self.alpha, Role.ADMIN)

    def as_user(self, user):
        request = RequestFactory().post("/")
        request.user = user
        return request

    def loaded(self, rotation: Rotation) -> Rotation:
        """The rotation as another request loads it now: its own copy, soon stale."""
        return Rotation.objects.select_related("instance").get(pk=rotation.pk)

    def assert_ends_with_a_working_stored_password(self, server, instance, rotation) -> str:
        rotation.refresh_from_db()
        self.assertEqual(rotation.lease_until, None, "the lease is given back")
        self.assert_stored_password_works(server, instance)
        return stored_password(instance)

    def count(self, rotation: Rotation, action: str) -> int:
        return machine.transitions(rotation).filter(action=action).count()


class ApplyVersusUndoTests(RaceTestCase):
    def test_an_undo_loaded_while_applied_cannot_undo_the_finished_rotation(self):
        """The race of the issue: admin 2's undo loads the rotation while it is applied,
        admin 1 finishes, then admin 2's undo acts."""
        server = self.make_pg()
        instance = instance_on(server, self.alpha, "race-pg")
        rotation = machine.start(instance, request=self.as_user(self.admin))
        undo: list[machine.Machine] = []

        def admin_2_opens_the_page(reached: str) -> None:
            if reached == RotationState.APPLIED:
                undo.append(
                    machine.Machine(self.loaded(rotation), request=self.as_user(self.second_admin))
                )

        machine.advance(
            rotation, request=self.as_user(self.admin), checkpoint=admin_2_opens_the_page
        )
        self.assertEqual(rotation.state, RotationState.DONE)
        self.assertEqual(undo[0].rotation.state, RotationState.APPLIED)  # its stale snapshot
        self.assertEqual(undo[0].undo().state, RotationState.DONE)  # re-read: nothing to undo
        new = self.assert_ends_with_a_working_stored_password(server, instance, rotation)
        self.assertNotEqual(new, HOSTILE_PASSWORD)
        self.assertFalse(logs_in(server, HOSTILE_PASSWORD), "the server was not rolled back")
        self.assertEqual(self.count(rotation, "rotation_undo_started"), 0)

    def test_an_undo_while_the_apply_runs_is_told_who_is_at_it(self):
        server = self.make_pg()
        instance = instance_on(server, self.alpha, "race-pg")
        rotation = machine.start(instance, request=self.as_user(self.admin))
        refused: list[str] = []

        def admin_2_presses_undo(reached: str) -> None:
            if reached == "server-applied":
                second = machine.Machine(
                    self.loaded(rotation), request=self.as_user(self.second_admin)
                )
                with self.assertRaises(lease.RotationBusy) as busy:
                    second.undo()
                refused.append(str(busy.exception))

        machine.advance(rotation, request=self.as_user(self.admin), checkpoint=admin_2_presses_undo)
        self.assertRegex(refused[0], r"in progress by alice since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
        self.assertEqual(rotation.state, RotationState.DONE)
        self.assertFalse(logs_in(server, HOSTILE_PASSWORD))
        self.assert_ends_with_a_working_stored_password(server, instance, rotation)

    def test_an_apply_loaded_before_an_undo_finished_does_not_apply_again(self):
        server = self.make_pg()
        instance = instance_on(server, self.alpha, "race-pg")
        rotation = machine.start(instance)
        resume = machine.Machine(self.loaded(rotation), request=self.as_user(self.admin))
        machine.Machine(self.loaded(rotation), request=self.as_user(self.second_admin)).undo()
        self.assertEqual(resume.run().state, RotationState.UNDONE)
        self.assertEqual(self.count(rotation, "rotation_applied"), 0)
        self.assertTrue(logs_in(server, HOSTILE_PASSWORD))
        self.assertEqual(
            self.assert_ends_with_a_working_stored_password(server, instance, rotation),
            HOSTILE_PASSWORD,
        )


class ApplyVersusApplyTests(RaceTestCase):
    def test_a_second_apply_while_the_first_runs_is_refused_and_later_finds_it_done(self):
        server = self.make_pg()
        instance = instance_on(server, self.alpha, "race-pg")
        rotation = machine.start(instance, request=self.as_user(self.admin))
        command = machine.Machine(self.loaded(rotation))  # rotate_password, loaded now
        refused: list[str] = []

        def the_command_runs_too(reached: str) -> None:
            if reached == "server-applied":
                with self.assertRaises(lease.RotationBusy) as busy:
                    machine.advance(self.loaded(rotation))
                refused.append(str(busy.exception))

        machine.advance(rotation, request=self.as_user(self.admin), checkpoint=the_command_runs_too)
        self.assertIn("in progress by alice", refused[0])
        self.assertEqual(command.run().state, RotationState.DONE)  # nothing left to do
        self.assertEqual(self.count(rotation, "rotation_applied"), 1)
        self.assertFalse(logs_in(server, HOSTILE_PASSWORD))
        self.assert_ends_with_a_working_stored_password(server, instance, rotation)

    def test_the_command_says_who_holds_the_lease_and_exits_1(self):
        server = self.make_pg()
        instance = instance_on(server, self.alpha, "race-pg")
        rotation = machine.start(instance)
        lease.take(rotation, "alice")  # alice's process died holding it
        with self.assertRaises(CommandError) as busy:
            run_command("race-pg")
        self.assertEqual(busy.exception.returncode, 1)
        self.assertIn("in progress by alice since", str(busy.exception))
        self.assertTrue(logs_in(server, HOSTILE_PASSWORD), "nothing was done")
        past = timezone.now() - timedelta(seconds=1)
        Rotation.objects.filter(pk=rotation.pk).update(lease_until=past)  # it expired
        self.assertEqual(run_command("race-pg")["state"], RotationState.DONE)
        self.assert_ends_with_a_working_stored_password(server, instance, rotation)


class ResumeVersusFinishTests(RaceTestCase):
    def grace_rotation(self):
        server = self.make_redis()
        instance = instance_on(server, self.alpha, "race-cache")
        rotation = machine.advance(machine.start(instance, grace_seconds=3600))
        self.assertEqual(rotation.state, RotationState.GRACE)
        return server, instance, rotation

    def test_a_resume_while_the_finish_runs_is_refused(self):
        server, instance, rotation = self.grace_rotation()
        refused: list[str] = []

        def admin_2_presses_resume(reached: str) -> None:
            if reached == "server-revoked":
                with self.assertRaises(lease.RotationBusy) as busy:
                    machine.advance(self.loaded(rotation), request=self.as_user(self.second_admin))
                refused.append(str(busy.exception))

        finished = machine.advance(
            rotation,
            request=self.as_user(self.admin),
            checkpoint=admin_2_presses_resume,
            finish_grace=True,
        )
        self.assertEqual(finished.state, RotationState.DONE)
        self.assertIn("in progress by alice", refused[0])
        self.assertFalse(logs_in(server, HOSTILE_PASSWORD))
        self.assert_ends_with_a_working_stored_password(server, instance, rotation)

    def test_a_finish_loaded_before_another_finish_does_nothing_twice(self):
        server, instance, rotation = self.grace_rotation()
        second = machine.Machine(self.loaded(rotation), request=self.as_user(self.second_admin))
        machine.advance(self.loaded(rotation), request=self.as_user(self.admin), finish_grace=True)
        self.assertEqual(second.run(finish_grace=True).state, RotationState.DONE)
        self.assertEqual(self.count(rotation, "rotation_old_revoked"), 1)
        self.assertEqual(self.count(rotation, "rotation_done"), 1)
        self.assert_ends_with_a_working_stored_password(server, instance, rotation)


class UndoStateTests(RaceTestCase):
    def test_an_interrupted_undo_is_finished_by_resume_never_re_applied(self):
        server = self.make_pg()
        instance = instance_on(server, self.alpha, "race-pg")
        rotation = machine.start(instance)
        with self.assertRaises(Crash):  # the new password is on the server, not stored
            machine.advance(rotation, checkpoint=crash_at("server-applied"))
        with self.assertRaises(Crash):  # the undo is recorded, the server not yet restored
            machine.Machine(self.loaded(rotation), checkpoint=crash_at("undoing")).undo()
        rotation.refresh_from_db()
        self.assertEqual(rotation.state, RotationState.UNDOING)
        self.assertFalse(logs_in(server, HOSTILE_PASSWORD))
        self.assertEqual(run_command("race-pg")["state"], RotationState.UNDONE)
        self.assertTrue(logs_in(server, HOSTILE_PASSWORD))
        self.assertEqual(
            self.assert_ends_with_a_working_stored_password(server, instance, rotation),
            HOSTILE_PASSWORD,
        )

    def test_the_page_shows_who_is_at_it_and_resume_does_nothing_meanwhile(self):
        server = self.make_pg()
        instance = instance_on(server, self.alpha, "race-pg")
        rotation = machine.start(instance)
        lease.take(rotation, "alice")
        self.client.force_login(self.second_admin)
        detail = reverse("rotation-detail", args=["race-pg", rotation.uid])
        self.assertContains(self.client.get(detail), "in progress by alice since")
        resumed = self.client.post(
            reverse("rotation-resume", args=["race-pg", rotation.uid]), follow=True
        )
        self.assertContains(resumed, "in progress by alice since")
        rotation.refresh_from_db()
        self.assertEqual(rotation.state, RotationState.CREATED)
        self.assertTrue(logs_in(server, HOSTILE_PASSWORD), "nothing was done")


@pytest.mark.servers
@pytest.mark.django_db(transaction=True)
def test_two_threads_pressing_at_once_apply_once(settings, make_pg):
    """Real concurrency: two requests on two database connections at the same moment."""
    if connection.vendor == "sqlite":  # CI runs the suite on PostgreSQL, where this runs
        pytest.skip("SQLite's in-memory test database refuses a second writer, never waits")
    settings.ZEKTOR_CHECK_DENY_NETWORKS = []
    team = Team.objects.create(name="Race")
    server = make_pg()
    instance = instance_on(server, team, "race-pg")
    rotation = machine.start(instance)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def press() -> None:
        try:
            start.wait()
            mine = Rotation.objects.select_related("instance").get(pk=rotation.pk)
            outcomes.append(machine.advance(mine).state)
        except lease.RotationBusy:
            outcomes.append("busy")
        finally:
            connection.close()

    threads = [threading.Thread(target=press) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) in (["busy", "done"], ["done", "done"])
    assert machine.transitions(rotation).filter(action="rotation_applied").count() == 1
    instance.refresh_from_db()
    assert logs_in(server, stored_password(instance))
    assert not logs_in(server, HOSTILE_PASSWORD)
