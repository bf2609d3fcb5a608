"""Django admin: write-only instance password, read-only audit log and rotations."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.urls import reverse

from instances.models import AuditEvent, Rotation, RotationState
from instances.rotation import machine
from tests.base import TEST_PASSWORD, BaseTestCase, admin_form_data, stored_password


class AdminTests(BaseTestCase):
    def setUp(self):
        self.root = User.objects.create_superuser("root", password="password")
        self.client.force_login(self.root)

    def instance_form(self, **overrides) -> dict:
        return admin_form_data(self.pg, **overrides)

    def test_it_never_renders_the_instance_password(self):
        page = self.client.get(reverse("admin:instances_instance_change", args=[self.pg.pk]))
        self.assertEqual(page.status_code, 200)
        self.assertContains(page, 'name="new_password"')
        html = page.content.decode()
        for form in (TEST_PASSWORD, "pa&#x27;ss", "ss&quot;w@rd", self.pg.password_sealed):
            self.assertNotIn(form, html)

    def test_it_keeps_the_password_when_the_field_is_blank(self):
        url = reverse("admin:instances_instance_change", args=[self.pg.pk])
        response = self.client.post(url, self.instance_form(tier="pro"))
        self.assertEqual(response.status_code, 302)
        self.pg.refresh_from_db()
        self.assertEqual((self.pg.tier, stored_password(self.pg)), ("pro", TEST_PASSWORD))

    def test_it_sets_a_new_password_and_audits_it(self):
        url = reverse("admin:instances_instance_change", args=[self.pg.pk])
        self.client.post(url, self.instance_form(new_password="a new one 123"))
        self.pg.refresh_from_db()
        self.assertEqual(stored_password(self.pg), "a new one 123")
        event = AuditEvent.objects.get(action="password_set")
        self.assertEqual((event.actor, event.instance), (self.root, self.pg))
        self.assertNotIn("a new one 123", str(event.detail))

    def test_it_requires_a_password_for_a_new_instance(self):
        url = reverse("admin:instances_instance_add")
        response = self.client.post(url, self.instance_form(name="new-pg"))
        self.assertEqual(response.status_code, 200)
        self.assertIn("new_password", response.context["adminform"].form.errors)

    def test_it_lets_nobody_add_change_or_delete_audit_events(self):
        event = AuditEvent.objects.create(action="password_reveal", instance=self.pg)
        change = reverse("admin:instances_auditevent_change", args=[event.pk])
        self.assertEqual(self.client.get(change).status_code, 200)  # view only
        self.assertEqual(self.client.post(change, {"action": "x"}).status_code, 403)
        delete = reverse("admin:instances_auditevent_delete", args=[event.pk])
        self.assertEqual(self.client.post(delete, {"post": "yes"}).status_code, 403)
        self.assertEqual(
            self.client.get(reverse("admin:instances_auditevent_add")).status_code, 403
        )
        changelist = self.client.get(reverse("admin:instances_auditevent_changelist"))
        self.assertNotContains(changelist, "delete_selected")
        event.refresh_from_db()
        self.assertEqual(event.action, "password_reveal")

    def test_it_shows_rotations_without_secrets_and_keeps_unfinished_ones(self):
        rotation = machine.start(self.pg, new_password="pending-secret-123")
        page = self.client.get(reverse("admin:instances_rotation_change", args=[rotation.pk]))
        self.assertEqual(page.status_code, 200)
        for secret in ("pending-secret-123", rotation.pending_sealed, rotation.old_sealed):
            self.assertNotContains(page, secret)
        delete = reverse("admin:instances_rotation_delete", args=[rotation.pk])
        self.assertEqual(self.client.post(delete, {"post": "yes"}).status_code, 403)
        self.assertTrue(Rotation.objects.filter(pk=rotation.pk).exists())
        self.assertEqual(rotation.state, RotationState.CREATED)

    def test_it_lists_teams_with_memberships(self):
        page = self.client.get(reverse("admin:instances_team_change", args=[self.alpha.pk]))
        self.assertContains(page, "memberships-0-role")
