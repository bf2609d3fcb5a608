"""Audit records for changes that redirect a stored password, membership and role changes,
deletions and the snippets command; an unfinished rotation protects its instance."""

from __future__ import annotations

import getpass
import io
import json

from django.contrib.auth.models import User
from django.core.management import call_command
from django.db.models import ProtectedError
from django.urls import reverse

from instances.models import (
    AuditEvent,
    Instance,
    Membership,
    Role,
    Rotation,
    RotationState,
    Team,
)
from instances.rotation import machine
from tests.base import CA_PEM, TEST_PASSWORD, BaseTestCase, admin_form_data, import_records

OS_USER = f"(OS user {getpass.getuser()})"


class AdminAuditTests(BaseTestCase):
    def setUp(self):
        self.root = User.objects.create_superuser("root", password="password")
        self.client.force_login(self.root)

    def change_instance(self, **overrides):
        url = reverse("admin:instances_instance_change", args=[self.pg.pk])
        return self.client.post(url, admin_form_data(self.pg, **overrides))

    def test_it_records_where_a_password_goes_before_and_after(self):
        response = self.change_instance(
            host="other.example.com",
            port=6432,
            team=self.beta.pk,
            sslmode="verify-full",
            ca_cert=CA_PEM,
            new_password=TEST_PASSWORD,
        )
        self.assertEqual(response.status_code, 302)
        moved = AuditEvent.objects.filter(action="instance_changed")
        self.assertEqual({e.team for e in moved}, {self.alpha, self.beta})  # both teams' logs
        event = moved.get(team=self.alpha)
        changes = event.detail["changes"]
        self.assertEqual(
            changes["host"], {"before": "alpha-pg.db.zektor.example", "after": "other.example.com"}
        )
        self.assertEqual(changes["port"], {"before": 5432, "after": 6432})
        self.assertEqual(changes["team"], {"before": "Alpha", "after": "Beta"})
        self.assertEqual(changes["sslmode"], {"before": "require", "after": "verify-full"})
        self.assertTrue(changes["ca_cert"]["after"].startswith("sha256:"))
        self.assertEqual((event.actor, event.detail["via"]), (self.root, "django-admin"))
        self.assertNotIn(TEST_PASSWORD, json.dumps(event.detail))
        # The same password typed again is not a password change.
        self.assertFalse(AuditEvent.objects.filter(action="password_set").exists())

    def test_it_records_nothing_when_no_watched_field_changes(self):
        self.change_instance(tier="pro")
        self.assertFalse(AuditEvent.objects.filter(action="instance_changed").exists())

    def test_it_records_membership_changes_made_in_the_team_page(self):
        alice = Membership.objects.get(user=self.admin, team=self.alpha)
        bob = Membership.objects.get(user=self.member, team=self.alpha)
        charlie = Membership.objects.get(user=self.viewer, team=self.alpha)
        newcomer = User.objects.create_user("dora")
        rows = [(alice, "admin", ""), (bob, "admin", ""), (charlie, "viewer", "on")]
        data = {
            "name": "Alpha",
            "memberships-TOTAL_FORMS": "4",
            "memberships-INITIAL_FORMS": "3",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
            "memberships-3-user": newcomer.pk,
            "memberships-3-role": "member",
            "memberships-3-team": self.alpha.pk,
        }
        for n, (membership, role, delete) in enumerate(rows):
            data |= {
                f"memberships-{n}-id": membership.pk,
                f"memberships-{n}-team": self.alpha.pk,
                f"memberships-{n}-user": membership.user_id,
                f"memberships-{n}-role": role,
                f"memberships-{n}-DELETE": delete,
            }
        url = reverse("admin:instances_team_change", args=[self.alpha.pk])
        self.assertEqual(self.client.post(url, data).status_code, 302)
        events = {e.action: e for e in AuditEvent.objects.filter(team=self.alpha)}
        self.assertEqual(
            events["member_role_changed"].detail["role"], {"before": "member", "after": "admin"}
        )
        self.assertEqual(events["member_role_changed"].detail["member"], "bob")
        self.assertEqual(events["member_removed"].detail["member"], "charlie")
        self.assertEqual(
            events["member_added"].detail,
            {"member": "dora", "role": "member", "via": "django-admin"},
        )
        self.assertEqual(AuditEvent.objects.count(), 3)

    def test_it_records_team_renames_and_deletions(self):
        url = reverse("admin:instances_team_change", args=[self.beta.pk])
        data = {
            "name": "Beta Renamed",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        }
        self.assertEqual(self.client.post(url, data).status_code, 302)
        event = AuditEvent.objects.get(action="team_changed")
        self.assertEqual(event.detail["name"], {"before": "Beta", "after": "Beta Renamed"})
        empty = Team.objects.create(name="Empty")
        Membership.objects.create(user=self.viewer, team=empty, role=Role.ADMIN)
        delete = reverse("admin:instances_team_delete", args=[empty.pk])
        self.assertEqual(self.client.post(delete, {"post": "yes"}).status_code, 302)
        actions = set(AuditEvent.objects.values_list("action", flat=True))
        self.assertLessEqual({"team_deleted", "member_removed"}, actions)

    def test_it_records_instance_deletion(self):
        url = reverse("admin:instances_instance_delete", args=[self.cache.pk])
        self.assertEqual(self.client.post(url, {"post": "yes"}).status_code, 302)
        event = AuditEvent.objects.get(action="instance_deleted")
        self.assertEqual((event.instance_name, event.actor), ("alpha-cache", self.root))
        self.assertFalse(Instance.objects.filter(name="alpha-cache").exists())

    def test_it_refuses_to_delete_an_instance_with_an_unfinished_rotation(self):
        machine.start(self.pg, new_password="pending-secret-123")
        url = reverse("admin:instances_instance_delete", args=[self.pg.pk])
        page = self.client.post(url, {"post": "yes"})
        self.assertEqual(page.status_code, 200)
        self.assertContains(page, "Cannot delete instance")
        self.assertTrue(Instance.objects.filter(pk=self.pg.pk).exists())
        self.assertFalse(AuditEvent.objects.filter(action="instance_deleted").exists())


class ModelLevelTests(BaseTestCase):
    def test_no_path_deletes_an_instance_with_an_unfinished_rotation(self):
        rotation = machine.start(self.pg, new_password="pending-secret-123")
        with self.assertRaises(ProtectedError) as error:
            Instance.objects.filter(pk=self.pg.pk).delete()
        self.assertEqual([r.pk for r in error.exception.protected_objects], [rotation.pk])
        self.assertTrue(Instance.objects.filter(pk=self.pg.pk).exists())

    def test_finished_rotations_go_with_their_instance(self):
        rotation = machine.start(self.pg, new_password="pending-secret-123")
        Rotation.objects.filter(pk=rotation.pk).update(state=RotationState.UNDONE)
        self.pg.delete()
        self.assertFalse(Rotation.objects.filter(pk=rotation.pk).exists())
        self.assertFalse(Instance.objects.filter(pk=self.pg.pk).exists())


class CommandAuditTests(BaseTestCase):
    def test_add_member_records_new_members_and_role_changes(self):
        call_command("add_member", "Alpha", "dora", "--role", "viewer", stdout=io.StringIO())
        call_command("add_member", "Alpha", "dora", "--role", "admin", stdout=io.StringIO())
        call_command("add_member", "Alpha", "dora", "--role", "admin", stdout=io.StringIO())
        added, changed = AuditEvent.objects.order_by("id")
        self.assertEqual(
            (added.action, added.detail), ("member_added", {"member": "dora", "role": "viewer"})
        )
        self.assertEqual(changed.detail["role"], {"before": "viewer", "after": "admin"})
        self.assertEqual(changed.actor_name, f"manage.py add_member {OS_USER}")
        self.assertEqual(changed.team, self.alpha)

    def test_snippets_records_that_it_printed_a_password(self):
        out = io.StringIO()
        call_command("snippets", "alpha-pg", "--json", stdout=out)
        self.assertIn(json.dumps(TEST_PASSWORD, ensure_ascii=False)[1:-1], out.getvalue())
        event = AuditEvent.objects.get()
        self.assertEqual((event.action, event.instance), ("snippets_command", self.pg))
        self.assertEqual(event.actor_name, f"manage.py snippets {OS_USER}")

    def test_import_records_changes_of_host_and_team(self):
        record = {
            "name": "alpha-pg",
            "engine": "postgresql",
            "tier": "standard",
            "team": "Beta",
            "host": "moved.example.com",
            "username": "app",
            "database": "app",
        }
        import_records([record])
        event = AuditEvent.objects.get(action="instance_changed", team=self.beta)
        self.assertEqual(event.detail["changes"]["host"]["after"], "moved.example.com")
        self.assertEqual(event.detail["changes"]["team"], {"before": "Alpha", "after": "Beta"})
        self.assertEqual(event.actor_name, f"manage.py import_instances {OS_USER}")
