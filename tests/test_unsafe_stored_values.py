"""Values stored before validation existed (a TAB or ESC in a password or user name) never
make a page, copy or download answer 500: they say which instance and what to fix."""

from __future__ import annotations

import io

from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from instances.models import AuditEvent, Instance
from tests.api_support import call, make_token
from tests.base import BaseTestCase

BAD_PASSWORD = "tab\there\x1b[31m"


class UnsafeStoredValueTests(BaseTestCase):
    def setUp(self) -> None:
        cache.clear()
        self.pg.set_password(BAD_PASSWORD)
        self.pg.save()
        self.client.force_login(self.member)

    def assert_explains(self, text: str, field: str = "password") -> None:
        self.assertIn(f"The stored {field} of alpha-pg holds a control character", text)
        self.assertIn("An admin should", text)
        self.assertNotIn(BAD_PASSWORD, text)

    def test_reveal_explains_and_records_an_error_not_a_reveal(self):
        response = self.client.post(reverse("instance-reveal", args=["alpha-pg"]))
        self.assertEqual(response.status_code, 200)
        self.assert_explains(response.content.decode())
        event = AuditEvent.objects.get()
        self.assertEqual((event.action, event.outcome), ("reveal", "error"))

    def test_copy_explains_with_a_conflict(self):
        for field in ("uri", "password"):
            response = self.client.post(
                reverse("instance-copy", args=["alpha-pg"]),
                {"field": field},
                content_type="application/json",
            )
            self.assertEqual(response.status_code, 409)
            self.assert_explains(response.json()["error"])

    def test_the_team_env_download_names_the_instance_to_fix(self):
        response = self.client.post(reverse("team-env", args=[self.alpha.pk]))
        self.assertEqual(response.status_code, 200)
        self.assertNotIn("attachment", response.get("Content-Disposition", ""))
        self.assert_explains(response.content.decode())

    def test_the_snippets_command_exits_2_with_the_fix(self):
        with self.assertRaises(CommandError) as error:
            call_command("snippets", "alpha-pg", stdout=io.StringIO())
        self.assertEqual(error.exception.returncode, 2)
        self.assert_explains(str(error.exception))
        event = AuditEvent.objects.get()
        self.assertEqual((event.action, event.outcome), ("snippets_command", "error"))

    def test_pages_with_a_bad_user_name_still_render(self):
        Instance.objects.filter(pk=self.pg.pk).update(username="app\tuser")
        settings_page = self.client.get(reverse("instance-settings", args=["alpha-pg"]))
        self.assertEqual(settings_page.status_code, 200)
        self.assert_explains(settings_page.content.decode(), "username")
        onboarding = self.client.get(reverse("team-onboarding", args=[self.alpha.pk]))
        self.assertEqual(onboarding.status_code, 200)
        self.assert_explains(onboarding.content.decode(), "username")
        self.assertIn("alpha-cache", onboarding.content.decode())

    def test_other_instances_of_the_team_keep_working(self):
        response = self.client.post(reverse("instance-reveal", args=["alpha-cache"]))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(AuditEvent.objects.get().outcome, "ok")


class ApiUnsafeStoredValueTests(BaseTestCase):
    def test_the_api_answers_409_saying_what_to_fix(self):
        _, token = make_token(self.alpha, ["settings", "reveal"])
        Instance.objects.filter(pk=self.pg.pk).update(username="app\tuser")
        for method, path in (
            ("GET", "/api/v1/instances/alpha-pg"),
            ("GET", "/api/v1/instances/alpha-pg/snippets"),
            ("POST", "/api/v1/instances/alpha-pg/reveal"),
        ):
            response = call(method, path, token)
            self.assertEqual(response.status_code, 409, path)
            self.assertEqual(response.json()["error"], "unsafe_value")
            self.assertIn("The stored username of alpha-pg", response.json()["detail"])
