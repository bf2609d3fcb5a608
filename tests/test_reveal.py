from __future__ import annotations

import html
import json

from django.core.cache import cache
from django.forms.models import model_to_dict
from django.test import Client
from django.urls import reverse

from instances.models import AuditEvent
from instances.snippets import MASK, connection_uri
from instances.views.secrets import SECRETS_RATE
from tests.base import TEST_PASSWORD, BaseTestCase, freeze_rate_windows
from tests.leaks import leaked_forms, seal_under_missing_key

BROWSER = "Mozilla/5.0 (reveal test)"


class RevealTests(BaseTestCase):
    def setUp(self) -> None:
        cache.clear()

    def reveal(self, user, name="alpha-pg"):
        self.client.force_login(user)
        return self.client.post(
            reverse("instance-reveal", args=[name]),
            HTTP_USER_AGENT=BROWSER,
            REMOTE_ADDR="203.0.113.7",
        )

    def copy(self, user, field, name="alpha-pg", as_json=True):
        self.client.force_login(user)
        url = reverse("instance-copy", args=[name])
        if as_json:
            return self.client.post(url, {"field": field}, content_type="application/json")
        return self.client.post(url, {"field": field})

    def assert_audit_has_no_secret(self):
        for event in AuditEvent.objects.all():
            self.assertEqual(leaked_forms(repr(model_to_dict(event)), TEST_PASSWORD), [])

    def test_it_shows_the_password_to_a_member_and_records_who_when_where(self):
        response = self.reveal(self.member)
        self.assertEqual(response.status_code, 200)
        content = response.content.decode()
        self.assertIn(html.escape(TEST_PASSWORD), content)
        self.assertIn(html.escape(connection_uri(self.pg, TEST_PASSWORD)), content)
        self.assertNotIn(MASK, content.split('id="snippets-heading"')[1])
        self.assertIn("shown for this page view only", content)
        self.assertIn("no-store", response["Cache-Control"])
        event = AuditEvent.objects.get()
        self.assertEqual(event.action, "reveal")
        self.assertEqual(event.actor, self.member)
        self.assertEqual(event.actor_name, "bob")
        self.assertEqual(event.instance, self.pg)
        self.assertEqual(event.instance_name, "alpha-pg")
        self.assertEqual(event.team, self.alpha)
        self.assertEqual(event.client_address, "203.0.113.7")
        self.assertEqual(event.user_agent, BROWSER)
        self.assertEqual(event.outcome, "ok")
        self.assertIsNotNone(event.created_at)
        self.assert_audit_has_no_secret()

    def test_it_lets_an_admin_reveal_a_valkey_password(self):
        response = self.reveal(self.admin, "alpha-cache")
        self.assertEqual(response.status_code, 200)
        self.assertIn(
            html.escape(connection_uri(self.cache, TEST_PASSWORD)), response.content.decode()
        )
        self.assertEqual(AuditEvent.objects.get().instance, self.cache)

    def test_it_refuses_viewers_without_a_trace_of_the_password(self):
        responses = [self.reveal(self.viewer), self.copy(self.viewer, "password")]
        responses.append(self.copy(self.viewer, "uri", as_json=False))
        for response in responses:
            self.assertEqual(response.status_code, 403)
            self.assertEqual(leaked_forms(response.content, TEST_PASSWORD), [])
        self.assertFalse(AuditEvent.objects.exists())

    def test_it_is_404_for_another_team(self):
        self.assertEqual(self.reveal(self.outsider).status_code, 404)
        self.assertEqual(self.copy(self.outsider, "password").status_code, 404)
        self.assertFalse(AuditEvent.objects.exists())

    def test_it_only_accepts_post(self):
        self.client.force_login(self.member)
        for name in ("instance-reveal", "instance-copy"):
            self.assertEqual(self.client.get(reverse(name, args=["alpha-pg"])).status_code, 405)
        self.assertFalse(AuditEvent.objects.exists())

    def test_it_copies_the_password_and_the_uri_through_the_audit_log(self):
        response = self.copy(self.member, "password")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json(), {"value": TEST_PASSWORD})
        response = self.copy(self.admin, "uri", as_json=False)
        self.assertEqual(response.json(), {"value": connection_uri(self.pg, TEST_PASSWORD)})
        events = list(AuditEvent.objects.order_by("id"))
        self.assertEqual([e.action for e in events], ["copy", "copy"])
        self.assertEqual(
            [e.detail for e in events],
            [
                {"field": "password", "proof": "password"},
                {"field": "uri", "proof": "password"},
            ],
        )
        self.assertEqual([e.actor for e in events], [self.member, self.admin])
        self.assert_audit_has_no_secret()

    def test_it_rejects_unknown_copy_fields(self):
        for body in ({"field": "host"}, {}):
            response = self.copy(self.member, body.get("field"))
            self.assertEqual(response.status_code, 400)
        self.client.force_login(self.member)
        response = self.client.post(
            reverse("instance-copy", args=["alpha-pg"]), "{", content_type="application/json"
        )
        self.assertEqual(response.status_code, 400)
        self.assertFalse(AuditEvent.objects.exists())

    def test_it_enforces_csrf(self):
        client = Client(enforce_csrf_checks=True)
        client.force_login(self.member)
        reveal = reverse("instance-reveal", args=["alpha-pg"])
        copy = reverse("instance-copy", args=["alpha-pg"])
        self.assertEqual(client.post(reveal).status_code, 403)
        body = json.dumps({"field": "password"})
        self.assertEqual(client.post(copy, body, content_type="application/json").status_code, 403)
        self.assertFalse(AuditEvent.objects.exists())
        client.get(reverse("instance-settings", args=["alpha-pg"]))
        token = client.cookies["csrftoken"].value
        self.assertEqual(client.post(reveal, {"csrfmiddlewaretoken": token}).status_code, 200)
        response = client.post(
            copy, body, content_type="application/json", headers={"X-CSRFToken": token}
        )
        self.assertEqual(response.json(), {"value": TEST_PASSWORD})

    def test_it_rate_limits_reveals_and_copies_per_user(self):
        freeze_rate_windows(self)
        allowed = int(SECRETS_RATE.split("/")[0])
        for n in range(allowed):
            response = self.copy(self.member, "password") if n % 2 else self.reveal(self.member)
            self.assertEqual(response.status_code, 200)
        self.assertEqual(self.reveal(self.member).status_code, 429)
        self.assertEqual(self.copy(self.member, "uri").status_code, 429)
        self.assertEqual(self.reveal(self.admin).status_code, 200)
        self.assertEqual(AuditEvent.objects.count(), allowed + 1)

    def test_it_explains_a_decryption_error_instead_of_failing(self):
        seal_under_missing_key(self.pg)
        response = self.reveal(self.member)
        self.assertEqual(response.status_code, 200)
        content = response.content.decode()
        self.assertIn('role="alert"', content)
        self.assertIn("The password of alpha-pg could not be decrypted", content)
        self.assertIn("key id &#x27;lost7&#x27;", content)
        self.assertIn(MASK, content)
        self.assertEqual(leaked_forms(content, TEST_PASSWORD), [])
        response = self.copy(self.member, "password")
        self.assertEqual(response.status_code, 503)
        self.assertIn("lost7", response.json()["error"])
        events = AuditEvent.objects.order_by("id")
        self.assertEqual([e.outcome for e in events], ["error", "error"])
        self.assertEqual(events[0].detail, {"key_id": "lost7", "proof": "password"})
