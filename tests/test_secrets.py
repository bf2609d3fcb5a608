"""instances.secrets: every password is opened for a named purpose, human purposes are
audited, and a password this server cannot decrypt gives the same clear message on every
page and command that opens one: never a 500, never a traceback, never a secret."""

from __future__ import annotations

from io import StringIO

from django.core.management import CommandError, call_command
from django.urls import reverse

from instances.models import AuditEvent, Instance
from instances.rotation import machine
from instances.secrets import Purpose, SecretUnavailable, open_password
from tests.base import TEST_PASSWORD, BaseTestCase, import_records, stored_password
from tests.leaks import leaked_forms, seal_under_missing_key

MESSAGE = "The password of alpha-pg could not be decrypted (stored under key id 'lost7')"
HTML_MESSAGE = MESSAGE.replace("'", "&#x27;")


class OpenPasswordTests(BaseTestCase):
    def test_it_audits_human_purposes_before_answering(self):
        password = open_password(self.pg, Purpose.REVEAL, actor=self.member)
        self.assertEqual(password, TEST_PASSWORD)
        event = AuditEvent.objects.get()
        self.assertEqual((event.action, event.actor, event.outcome), ("reveal", self.member, "ok"))

    def test_it_names_system_purposes_without_an_audit_record_each(self):
        for purpose in (Purpose.CONNECTION_TEST, Purpose.ROTATION, Purpose.IMPORT, Purpose.DEMO):
            self.assertEqual(open_password(self.pg, purpose), TEST_PASSWORD)
        self.assertFalse(AuditEvent.objects.exists())

    def test_it_audits_a_failed_opening_with_the_key_id_only(self):
        seal_under_missing_key(self.pg)
        self.pg.refresh_from_db()
        with self.assertRaisesMessage(SecretUnavailable, MESSAGE):
            open_password(self.pg, Purpose.COPY, actor=self.member, field="uri")
        event = AuditEvent.objects.get()
        self.assertEqual(event.outcome, "error")
        self.assertEqual(event.detail, {"key_id": "lost7", "field": "uri"})
        with self.assertRaises(SecretUnavailable):
            open_password(self.pg, Purpose.CONNECTION_TEST)
        self.assertEqual(AuditEvent.objects.count(), 1)

    def test_it_keeps_the_password_out_of_the_model_interface(self):
        self.assertFalse(hasattr(self.pg, "password"))
        self.pg.set_password("a new one")
        self.pg.save()
        self.assertEqual(stored_password(self.pg), "a new one")


class UndecryptablePasswordTests(BaseTestCase):
    def setUp(self) -> None:
        seal_under_missing_key(self.pg)

    def assert_explained(self, response, status: int = 200) -> str:
        self.assertEqual(response.status_code, status)
        content = response.content.decode()
        self.assertTrue(MESSAGE in content or HTML_MESSAGE in content, content[:2000])
        self.assertNotIn("Traceback", content)
        self.assertEqual(leaked_forms(content, TEST_PASSWORD), [])
        return content

    def test_every_page_that_opens_it_explains_it(self):
        self.client.force_login(self.admin)
        pg = ["alpha-pg"]
        self.assertEqual(self.client.get(reverse("instance-settings", args=pg)).status_code, 200)
        self.assert_explained(self.client.post(reverse("instance-reveal", args=pg)))
        copy = self.client.post(
            reverse("instance-copy", args=pg), {"field": "uri"}, content_type="application/json"
        )
        self.assert_explained(copy, 503)
        self.assert_explained(self.client.post(reverse("instance-check-run", args=pg)), 503)
        env = self.client.post(reverse("team-env", args=[self.alpha.pk]), follow=True)
        self.assert_explained(env)
        self.assert_explained(self.client.get(reverse("rotation-start", args=pg)))
        self.assert_explained(self.client.post(reverse("rotation-start", args=pg)), 409)
        self.assertFalse(self.pg.rotations.exists())

    def test_the_rotation_pages_explain_it_once_a_rotation_runs(self):
        rotation = machine.start(Instance.objects.get(pk=self.cache.pk))
        seal_under_missing_key(self.cache)
        # The rotation's own sealed passwords under a lost key too.
        lost = Instance.objects.get(pk=self.pg.pk).password_sealed
        type(rotation).objects.filter(pk=rotation.pk).update(pending_sealed=lost, old_sealed=lost)
        self.client.force_login(self.admin)
        args = ["alpha-cache", rotation.uid]
        for name in ("rotation-resume", "rotation-finish", "rotation-undo"):
            response = self.client.post(reverse(name, args=args), follow=True)
            content = response.content.decode()
            self.assertEqual(response.status_code, 200, name)
            self.assertIn("passwords of the rotation", content.replace("&#x27;", "'"), name)
            self.assertIn("could not be decrypted", content, name)
        session = self.client.session
        session["rotation-reveal"] = str(rotation.uid)
        session.save()
        type(rotation).objects.filter(pk=rotation.pk).update(state="promoted")
        response = self.client.post(reverse("rotation-reveal", args=args), follow=True)
        content = response.content.decode()
        self.assertIn(
            "The password of alpha-cache could not be decrypted", content.replace("&#x27;", "'")
        )
        self.assertTrue(AuditEvent.objects.filter(action="rotation_reveal", outcome="error"))

    def test_every_command_that_opens_it_explains_it(self):
        for command, args in (
            ("check_connection", ["alpha-pg"]),
            ("check_instances", ["alpha-pg"]),
            ("snippets", ["alpha-pg"]),
            ("rotate_password", ["alpha-pg"]),
        ):
            out = StringIO()
            with self.assertRaises(CommandError) as caught:
                call_command(command, *args, stdout=out, stderr=StringIO())
            self.assertEqual(caught.exception.returncode, 1, command)
            self.assertIn(MESSAGE, str(caught.exception), command)
            self.assertEqual(out.getvalue(), "", command)
        self.assertFalse(self.pg.rotations.exists())

    def test_an_import_replaces_it(self):
        record = {
            "name": "alpha-pg",
            "engine": "postgresql",
            "tier": "standard",
            "team": "Alpha",
            "host": "alpha-pg.db.zektor.example",
            "username": "app",
            "database": "app",
            "password": "a readable one",
        }
        import_records([record])
        self.assertEqual(stored_password(self.pg), "a readable one")
