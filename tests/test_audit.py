"""The audit log: role checks, filters, paging, CSV export, failed sign-ins, append-only."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from instances.audit import record
from instances.models import AuditEvent
from instances.views.audit import PAGE_SIZE, csv_safe
from tests.base import BaseTestCase


class AuditLogTests(BaseTestCase):
    def setUp(self):
        self.url = reverse("team-audit", args=[self.alpha.pk])
        record("password_reveal", actor=self.member, instance=self.pg)
        record("connection_test", actor=self.admin, instance=self.cache, outcome="fail")
        record("password_reveal", actor=self.outsider, instance=self.beta_pg)

    def csv_rows(self, response) -> list[list[str]]:
        text = b"".join(response.streaming_content).decode()
        return list(csv.reader(io.StringIO(text)))

    def test_it_shows_team_admins_their_teams_events_only(self):
        self.client.force_login(self.admin)
        page = self.client.get(self.url)
        self.assertContains(page, "alpha-pg")
        self.assertContains(page, "alpha-cache")
        self.assertNotContains(page, "beta-pg")

    def test_it_forbids_members_and_viewers_and_hides_other_teams(self):
        for user in (self.member, self.viewer):
            self.client.force_login(user)
            self.assertEqual(self.client.get(self.url).status_code, 403)
            csv_url = reverse("team-audit-csv", args=[self.alpha.pk])
            self.assertEqual(self.client.get(csv_url).status_code, 403)
        self.client.force_login(self.outsider)
        self.assertEqual(self.client.get(self.url).status_code, 404)

    def test_it_filters_by_action_user_instance_and_dates(self):
        self.client.force_login(self.admin)
        cases = {
            "action=password_reveal": ("alpha-pg", "alpha-cache"),
            "user=alice": ("alpha-cache", "alpha-pg"),
            "instance=alpha-pg": ("alpha-pg", "alpha-cache"),
        }
        for query, (present, absent) in cases.items():
            page = self.client.get(f"{self.url}?{query}")
            self.assertContains(page, f"<td>{present}</td>", html=False)
            self.assertNotContains(page, f"<td>{absent}</td>", html=False)
        tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
        page = self.client.get(f"{self.url}?date_from={tomorrow}")
        self.assertContains(page, "No events match")
        today = timezone.now().date().isoformat()
        page = self.client.get(f"{self.url}?date_from={today}&date_to={today}")
        self.assertEqual(page.context["page"].paginator.count, 2)

    def test_it_pages_through_many_events(self):
        for _ in range(PAGE_SIZE + 5):
            record("password_copy", actor=self.member, instance=self.pg)
        self.client.force_login(self.admin)
        first = self.client.get(self.url)
        self.assertEqual(len(first.context["page"].object_list), PAGE_SIZE)
        second = self.client.get(f"{self.url}?page=2")
        self.assertEqual(len(second.context["page"].object_list), 7)

    def test_it_exports_the_filtered_events_as_csv(self):
        self.client.force_login(self.admin)
        response = self.client.get(f"{self.url}?format=csv&instance=alpha-cache")
        self.assertEqual(response["Content-Type"], "text/csv; charset=utf-8")
        rows = self.csv_rows(response)
        self.assertEqual(rows[0][:3], ["time", "actor", "action"])
        self.assertEqual([row[3] for row in rows[1:]], ["alpha-cache"])
        also = self.client.get(reverse("team-audit-csv", args=[self.alpha.pk]))
        actions = [row[2] for row in self.csv_rows(also)[1:]]
        self.assertEqual(
            sorted(actions), ["audit_exported"] * 2 + ["connection_test", "password_reveal"]
        )
        self.assertTrue(AuditEvent.objects.filter(action="audit_exported").exists())

    def test_it_neutralises_formulas_in_csv_cells(self):
        record("password_reveal", instance=self.pg, actor_name="=HYPERLINK(evil)")
        self.client.force_login(self.admin)
        rows = self.csv_rows(self.client.get(f"{self.url}?format=csv"))
        self.assertIn("'=HYPERLINK(evil)", [row[1] for row in rows])
        for value in ("=1", "+1", "-1", "@x", "\tx"):
            self.assertTrue(csv_safe(value).startswith("'"), value)
        self.assertEqual(csv_safe("plain"), "plain")

    def test_it_offers_no_way_to_change_events(self):
        self.client.force_login(self.admin)
        self.assertEqual(self.client.post(self.url).status_code, 405)
        event = AuditEvent.objects.first()
        assert event is not None
        with self.assertRaises(PermissionError):
            event.save()
        with self.assertRaises(PermissionError):
            event.delete()


class FailedLoginAuditTests(BaseTestCase):
    def test_it_records_failed_sign_ins_without_the_password(self):
        client = Client(HTTP_USER_AGENT="curl/8.5", REMOTE_ADDR="203.0.113.9")
        client.post(reverse("login"), {"username": "bob", "password": "guess-Secr3t!"})
        event = AuditEvent.objects.get(action="login_failed")
        self.assertEqual(event.detail["username"], "bob")
        self.assertEqual(event.actor_name, "bob")
        self.assertEqual(event.client_address, "203.0.113.9")
        self.assertEqual(event.user_agent, "curl/8.5")
        self.assertEqual(event.outcome, "fail")
        self.assertNotIn("guess-Secr3t!", str(AuditEvent.objects.values()))

    def test_it_shows_failed_sign_ins_of_members_to_team_admins(self):
        Client().post(reverse("login"), {"username": "bob", "password": "wrong"})
        Client().post(reverse("login"), {"username": "stranger", "password": "wrong"})
        self.client.force_login(self.admin)
        page = self.client.get(reverse("team-audit", args=[self.alpha.pk]))
        self.assertContains(page, "login_failed")
        self.assertNotContains(page, "stranger")
