"""Rotation pages: roles, CSRF, real rotations through the UI, one-time reveal."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from instances.models import AuditEvent, RotationState
from instances.rotation import machine
from tests.base import TEST_PASSWORD, BaseTestCase, instance_on, stored_password
from tests.rotation_support import logs_in
from tests.servers import HOSTILE_PASSWORD


class RotationAccessTests(BaseTestCase):
    def test_it_forbids_members_and_viewers_to_rotate(self):
        for user in (self.member, self.viewer):
            self.client.force_login(user)
            url = reverse("rotation-start", args=["alpha-pg"])
            self.assertEqual(self.client.get(url).status_code, 403)
            self.assertEqual(self.client.post(url).status_code, 403)
            progress = reverse("rotation-progress", args=["alpha-pg"])
            self.assertEqual(self.client.get(progress).status_code, 403)
        self.assertFalse(self.pg.rotations.exists())

    def test_it_hides_other_teams_instances(self):
        self.client.force_login(self.outsider)
        response = self.client.post(reverse("rotation-start", args=["alpha-pg"]))
        self.assertEqual(response.status_code, 404)

    def test_it_keeps_pending_passwords_from_members(self):
        rotation = machine.start(self.pg, new_password="pending-secret-123")
        self.client.force_login(self.member)
        for name in ("rotation-detail", "rotation-reveal", "rotation-undo", "rotation-resume"):
            url = reverse(name, args=["alpha-pg", rotation.uid])
            response = self.client.post(url) if name != "rotation-detail" else self.client.get(url)
            self.assertEqual(response.status_code, 403, name)
            self.assertNotIn(b"pending-secret-123", response.content)

    def test_it_enforces_csrf(self):
        client = Client(enforce_csrf_checks=True)
        client.force_login(self.admin)
        response = client.post(reverse("rotation-start", args=["alpha-pg"]))
        self.assertEqual(response.status_code, 403)
        self.assertFalse(self.pg.rotations.exists())

    def test_it_links_rotation_and_audit_log_for_admins_only(self):
        self.client.force_login(self.admin)
        page = self.client.get(reverse("instance-activity", args=["alpha-pg"]))
        self.assertContains(page, reverse("rotation-start", args=["alpha-pg"]))
        self.assertContains(page, reverse("team-audit", args=[self.alpha.pk]))
        self.client.force_login(self.member)
        page = self.client.get(reverse("instance-activity", args=["alpha-pg"]))
        self.assertNotContains(page, reverse("rotation-start", args=["alpha-pg"]))
        self.assertNotContains(page, reverse("team-audit", args=[self.alpha.pk]))

    def test_it_refuses_a_second_rotation(self):
        machine.start(self.pg)
        self.client.force_login(self.admin)
        response = self.client.post(reverse("rotation-start", args=["alpha-pg"]))
        self.assertEqual(response.status_code, 409)
        self.assertContains(response, "already in progress", status_code=409)
        self.assertEqual(self.pg.rotations.count(), 1)

    def test_it_explains_what_to_do_when_a_rotation_needs_attention(self):
        rotation = machine.start(self.pg)
        rotation.state = RotationState.NEEDS_ATTENTION
        rotation.reason = "The stored password no longer logs in. What to do: Django admin"
        rotation.save()
        self.client.force_login(self.admin)
        page = self.client.get(reverse("rotation-detail", args=["alpha-pg", rotation.uid]))
        self.assertContains(page, "Needs attention")
        self.assertContains(page, "What to do: Django admin")
        self.assertContains(page, reverse("rotation-resume", args=["alpha-pg", rotation.uid]))
        self.assertContains(page, reverse("rotation-undo", args=["alpha-pg", rotation.uid]))
        self.assertNotContains(page, TEST_PASSWORD)


# The test servers listen on loopback, which the portal refuses by default.
@override_settings(ZEKTOR_CHECK_DENY_NETWORKS=[])
class RotationFlowTests(BaseTestCase):
    @pytest.fixture(autouse=True)
    def _servers(self, make_pg, make_redis):
        self.make_pg = make_pg
        self.make_redis = make_redis

    def test_it_rotates_postgresql_and_shows_the_new_password_once(self):
        server = self.make_pg()
        instance = instance_on(server, self.alpha, "ui-pg")
        self.client.force_login(self.admin)
        with server.connect(application_name="billing-worker"):
            confirm = self.client.get(reverse("rotation-start", args=["ui-pg"]))
        self.assertContains(confirm, "billing-worker")
        self.assertNotContains(confirm, 'name="grace_seconds"')
        self.assertNotContains(confirm, HOSTILE_PASSWORD)
        response = self.client.post(reverse("rotation-start", args=["ui-pg"]))
        rotation = instance.rotations.get()
        self.assertRedirects(response, reverse("rotation-detail", args=["ui-pg", rotation.uid]))
        detail = self.client.get(response["Location"])
        for action in ("rotation_applied", "rotation_verified", "rotation_promoted"):
            self.assertContains(detail, action)
        instance.refresh_from_db()
        new = stored_password(instance)
        self.assertNotContains(detail, new)
        reveal_url = reverse("rotation-reveal", args=["ui-pg", rotation.uid])
        self.assertContains(self.client.post(reveal_url), new)
        self.assertTrue(AuditEvent.objects.filter(action="rotation_reveal").exists())
        again = self.client.post(reveal_url, follow=True)
        self.assertNotContains(again, new)
        self.assertContains(again, "only once")
        self.assertTrue(logs_in(server, new))
        self.assertFalse(logs_in(server, HOSTILE_PASSWORD))

    def test_it_rotates_valkey_with_a_grace_period_and_finishes_it(self):
        server = self.make_redis()
        self.client.force_login(self.admin)
        instance = instance_on(server, self.alpha, "ui-cache")
        confirm = self.client.get(reverse("rotation-start", args=["ui-cache"]))
        self.assertContains(confirm, 'name="grace_seconds"')
        self.assertContains(confirm, "grace period")
        response = self.client.post(
            reverse("rotation-start", args=["ui-cache"]),
            {"grace_seconds": "3600", "new_password": "an admin chosen password"},
        )
        rotation = instance.rotations.get()
        self.assertEqual(rotation.state, RotationState.GRACE)
        detail = self.client.get(response["Location"])
        self.assertContains(detail, reverse("rotation-finish", args=["ui-cache", rotation.uid]))
        self.assertTrue(logs_in(server, HOSTILE_PASSWORD))
        self.client.post(reverse("rotation-finish", args=["ui-cache", rotation.uid]))
        rotation.refresh_from_db()
        self.assertEqual(rotation.state, RotationState.DONE)
        self.assertFalse(logs_in(server, HOSTILE_PASSWORD))
        self.assertTrue(logs_in(server, "an admin chosen password"))
        progress = self.client.get(reverse("rotation-progress", args=["ui-cache"])).json()
        self.assertEqual(progress["steps"][-1]["action"], "rotation_done")

    def test_it_undoes_a_stuck_rotation_from_the_page(self):
        server = self.make_pg()
        instance = instance_on(server, self.alpha, "ui-pg")
        rotation = machine.start(instance)
        self.client.force_login(self.admin)
        self.client.post(reverse("rotation-undo", args=["ui-pg", rotation.uid]))
        rotation.refresh_from_db()
        self.assertEqual(rotation.state, RotationState.UNDONE)
        self.assertTrue(logs_in(server, HOSTILE_PASSWORD))
