"""Team admins add, edit, archive and delete instances in the portal with the shared form, and
test unsaved values first (against the suite's real TLS PostgreSQL)."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse

from instances.models import AuditEvent, CheckRun, Instance, Rotation, RotationState
from tests.base import (
    ALLOW_LOOPBACK,
    CA_PEM,
    TEST_PASSWORD,
    BaseTestCase,
    admin_form_data,
    instance_on,
    stored_password,
)
from tests.servers import ServerInfo
from tests.test_checks_commands import run_command
from tests.test_checks_views import events

PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBg\n-----END PRIVATE KEY-----\n"


def new_instance_data(team_id: int, **overrides) -> dict:
    data = {
        "name": "orders-db",
        "team": team_id,
        "engine": "postgresql",
        "tier": "pro",
        "status": "active",
        "host": "orders.db.zektor.example",
        "port": 5432,
        "username": "orders",
        "new_password": TEST_PASSWORD,
        "database": "orders",
        "sslmode": "verify-full",
        "tls": "on",
        "ca_cert": "",
    }
    return data | overrides


class InstanceFormTestCase(BaseTestCase):
    def setUp(self) -> None:
        cache.clear()
        self.client.force_login(self.admin)

    @property
    def new_url(self) -> str:
        return reverse("instance-new", args=[self.alpha.pk])

    def edit_url(self, name: str = "alpha-pg") -> str:
        return reverse("instance-edit", args=[name])


class AddInstanceTests(InstanceFormTestCase):
    def test_it_adds_an_instance_with_a_sealed_password_and_audits_its_fields(self):
        response = self.client.post(self.new_url, new_instance_data(self.alpha.pk))
        self.assertRedirects(response, reverse("instance-settings", args=["orders-db"]))
        instance = Instance.objects.get(name="orders-db")
        self.assertEqual(stored_password(instance), TEST_PASSWORD)
        self.assertNotIn(TEST_PASSWORD, instance.password_sealed)
        event = AuditEvent.objects.get(action="instance_created")
        self.assertEqual(event.detail["fields"]["host"], "orders.db.zektor.example")
        self.assertEqual(event.detail["fields"]["team"], "Alpha")
        self.assertEqual(event.detail["via"], "portal")
        self.assertNotIn(TEST_PASSWORD, json.dumps(event.detail))

    def test_it_takes_the_ca_certificate_pasted_or_uploaded(self):
        self.client.post(self.new_url, new_instance_data(self.alpha.pk, ca_cert=CA_PEM))
        self.assertIn("BEGIN CERTIFICATE", Instance.objects.get(name="orders-db").ca_cert)
        upload = SimpleUploadedFile("ca.pem", CA_PEM.encode(), "application/x-pem-file")
        data = new_instance_data(self.alpha.pk, name="other-db", ca_file=upload)
        self.client.post(self.new_url, data)
        self.assertEqual(Instance.objects.get(name="other-db").ca_cert.strip(), CA_PEM.strip())

    def test_it_says_what_to_fix_inline_and_saves_nothing(self):
        cases: list[tuple[dict[str, object], str]] = [
            ({"name": "alpha-pg"}, "Instance with this Name already exists"),
            ({"host": "127.0.0.1 ; rm"}, "host"),
            ({"host": "0.0.0.0"}, "0.0.0.0"),
            ({"port": "70000"}, "less than or equal to 65535"),
            ({"new_password": ""}, "This field is required"),
            ({"new_password": "tab\there"}, "control character"),
            ({"username": "app\x1b[31m"}, "control character"),
            ({"database": ""}, "needs a database name"),
            ({"ca_cert": CA_PEM + PRIVATE_KEY}, "PRIVATE KEY"),
            ({"ca_cert": "not a certificate"}, "certificate"),
            ({"team": self.beta.pk}, "Select a valid choice"),  # not a team they run
            ({"engine": "mysql"}, "Select a valid choice"),
        ]
        for overrides, message in cases:
            response = self.client.post(self.new_url, new_instance_data(self.alpha.pk, **overrides))
            self.assertEqual(response.status_code, 400, overrides)
            self.assertContains(response, message, status_code=400)
            self.assertContains(response, 'aria-invalid="true"', status_code=400)
            self.assertNotContains(response, TEST_PASSWORD, status_code=400)
        self.assertFalse(Instance.objects.filter(name="orders-db").exists())
        self.assertFalse(AuditEvent.objects.exists())

    def test_it_refuses_an_oversized_or_binary_upload(self):
        for content, message in ((b"x" * (64 * 1024 + 1), "over 64 KiB"), (b"\xff\xfe", "PEM")):
            upload = SimpleUploadedFile("ca.pem", content)
            data = new_instance_data(self.alpha.pk, ca_file=upload)
            self.assertContains(self.client.post(self.new_url, data), message, status_code=400)
        self.assertFalse(Instance.objects.filter(name="orders-db").exists())

    def test_it_refuses_members_viewers_and_outsiders(self):
        for user, status in ((self.member, 403), (self.viewer, 403), (self.outsider, 404)):
            self.client.force_login(user)
            self.assertEqual(self.client.get(self.new_url).status_code, status)
            data = new_instance_data(self.alpha.pk)
            self.assertEqual(self.client.post(self.new_url, data).status_code, status)
        self.assertFalse(Instance.objects.filter(name="orders-db").exists())


class EditInstanceTests(InstanceFormTestCase):
    def test_it_never_renders_the_stored_password(self):
        page = self.client.get(self.edit_url())
        self.assertContains(page, 'name="new_password"')
        self.assertNotContains(page, TEST_PASSWORD)

    def test_it_asks_for_the_password_again_when_the_host_changes(self):
        data = admin_form_data(self.pg, host="elsewhere.zektor.example")
        response = self.client.post(self.edit_url(), data)
        self.assertContains(response, "needs the password", status_code=400)
        self.pg.refresh_from_db()
        self.assertEqual(self.pg.host, "alpha-pg.db.zektor.example")
        data["new_password"] = TEST_PASSWORD
        self.assertRedirects(
            self.client.post(self.edit_url(), data),
            reverse("instance-settings", args=["alpha-pg"]),
        )
        self.pg.refresh_from_db()
        self.assertEqual(self.pg.host, "elsewhere.zektor.example")
        event = AuditEvent.objects.get(action="instance_changed")
        self.assertEqual(event.detail["changes"]["host"]["after"], "elsewhere.zektor.example")
        self.assertFalse(AuditEvent.objects.filter(action="password_set").exists())

    def test_it_records_every_changed_field_before_and_after_and_a_new_password(self):
        data = admin_form_data(self.pg, tier="business", new_password="brand-new")
        self.client.post(self.edit_url(), data)
        event = AuditEvent.objects.get(action="instance_changed")
        tier = {"before": "standard", "after": "business"}
        self.assertEqual(event.detail["changes"], {"tier": tier})
        self.assertTrue(AuditEvent.objects.filter(action="password_set").exists())
        self.pg.refresh_from_db()
        self.assertEqual(stored_password(self.pg), "brand-new")

    def test_it_moves_an_instance_only_to_teams_the_admin_runs(self):
        data = admin_form_data(self.pg, team=self.beta.pk, new_password=TEST_PASSWORD)
        self.assertContains(
            self.client.post(self.edit_url(), data), "Select a valid choice", status_code=400
        )
        self.pg.refresh_from_db()
        self.assertEqual(self.pg.team, self.alpha)

    def test_it_refuses_members_viewers_and_outsiders(self):
        for user, status in ((self.member, 403), (self.viewer, 403), (self.outsider, 404)):
            self.client.force_login(user)
            self.assertEqual(self.client.get(self.edit_url()).status_code, status)
            data = admin_form_data(self.pg, tier="business")
            self.assertEqual(self.client.post(self.edit_url(), data).status_code, status)
        self.pg.refresh_from_db()
        self.assertEqual(self.pg.tier, "standard")


class ArchiveDeleteTests(InstanceFormTestCase):
    def test_it_archives_off_the_lists_and_restores(self):
        url = reverse("instance-archive", args=["alpha-pg"])
        self.client.post(url, {"archived": "true"})
        self.pg.refresh_from_db()
        self.assertIsNotNone(self.pg.archived_at)
        self.assertNotContains(self.client.get(reverse("instance-list")), "alpha-pg.db")
        self.assertContains(self.client.get(self.edit_url()), "Restore")
        self.client.post(url, {"archived": "false"})
        self.pg.refresh_from_db()
        self.assertIsNone(self.pg.archived_at)
        actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
        self.assertEqual(actions, ["instance_archived", "instance_restored"])

    def test_it_leaves_archived_instances_out_of_check_instances_all(self):
        # 127.0.0.1 is denied by default: every check fails at once, without traffic.
        Instance.objects.update(host="127.0.0.1")
        self.client.post(reverse("instance-archive", args=["alpha-pg"]), {"archived": "true"})
        out, _, _ = run_command("check_instances", "--all", json=True)
        names = {report["instance"] for report in json.loads(out)}
        self.assertEqual(names, {"alpha-cache", "beta-pg"})
        out, _, _ = run_command("check_instances", "alpha-pg", json=True)  # by name: still
        self.assertEqual([report["instance"] for report in json.loads(out)], ["alpha-pg"])

    def test_it_deletes_only_after_the_name_is_typed(self):
        url = reverse("instance-delete", args=["alpha-pg"])
        self.assertContains(self.client.get(url), "Type <strong>alpha-pg</strong> to confirm")
        wrong = self.client.post(url, {"confirm_name": "alpha"})
        self.assertContains(wrong, "to confirm", status_code=400)
        self.assertTrue(Instance.objects.filter(name="alpha-pg").exists())
        self.assertRedirects(self.client.post(url, {"confirm_name": "alpha-pg"}), "/")
        self.assertFalse(Instance.objects.filter(name="alpha-pg").exists())
        event = AuditEvent.objects.get(action="instance_deleted")
        self.assertEqual(event.instance_name, "alpha-pg")

    def test_it_refuses_to_delete_during_an_unfinished_rotation(self):
        rotation = Rotation(instance=self.pg, actor=self.admin, state=RotationState.APPLIED)
        rotation.seal("pending_sealed", "new")
        rotation.seal("old_sealed", "old")
        rotation.save()
        url = reverse("instance-delete", args=["alpha-pg"])
        response = self.client.post(url, {"confirm_name": "alpha-pg"})
        self.assertContains(response, "unfinished password rotation", status_code=400)
        self.assertTrue(Instance.objects.filter(name="alpha-pg").exists())
        self.assertFalse(AuditEvent.objects.filter(action="instance_deleted").exists())

    def test_it_refuses_members_archive_and_delete(self):
        self.client.force_login(self.member)
        archive = self.client.post(reverse("instance-archive", args=["alpha-pg"]))
        delete = self.client.post(
            reverse("instance-delete", args=["alpha-pg"]), {"confirm_name": "alpha-pg"}
        )
        self.assertEqual((archive.status_code, delete.status_code), (403, 403))
        self.pg.refresh_from_db()
        self.assertIsNone(self.pg.archived_at)


class DraftTestTests(InstanceFormTestCase):
    def test_it_answers_bad_values_with_what_to_fix_as_text(self):
        url = reverse("instance-new-test", args=[self.alpha.pk])
        response = self.client.post(url, new_instance_data(self.alpha.pk, port="0"))
        self.assertEqual(response.status_code, 400)
        self.assertIn("text/plain", response["Content-Type"])
        self.assertIn("Port:", response.content.decode())

    def test_it_does_not_send_the_stored_password_to_a_new_host(self):
        url = reverse("instance-edit-test", args=["alpha-pg"])
        data = admin_form_data(self.pg, host="attacker.example")
        response = self.client.post(url, data)
        self.assertContains(response, "needs the password", status_code=400)

    def test_it_vets_the_address_and_stores_nothing(self):
        # 127.0.0.1 is denied by default: the run fails at once without traffic.
        url = reverse("instance-new-test", args=[self.alpha.pk])
        response = self.client.post(url, new_instance_data(self.alpha.pk, host="127.0.0.1"))
        self.assertEqual(events(response)[-1]["report"]["status"], "fail")
        self.assertFalse(Instance.objects.filter(name="orders-db").exists())
        self.assertFalse(CheckRun.objects.exists())

    def test_it_refuses_members(self):
        self.client.force_login(self.member)
        url = reverse("instance-edit-test", args=["alpha-pg"])
        self.assertEqual(self.client.post(url, admin_form_data(self.pg)).status_code, 403)


@pytest.mark.servers
@override_settings(ZEKTOR_CHECK_DENY_NETWORKS=ALLOW_LOOPBACK, ZEKTOR_CHECK_TIMEOUT=5.0)
class LiveDraftTestTests(InstanceFormTestCase):
    @pytest.fixture(autouse=True)
    def _server(self, pg_tls: ServerInfo) -> None:
        self.server = pg_tls

    def server_data(self, **overrides) -> dict:
        server = self.server
        return new_instance_data(
            self.alpha.pk,
            host=server.host,
            port=server.port,
            username=server.username,
            new_password=server.password,
            database=server.database,
            ca_cert=server.ca_pem,
            tier="standard",  # the test server's max_connections
            **overrides,
        )

    def test_it_tests_unsaved_values_against_a_real_server_without_storing_them(self):
        url = reverse("instance-new-test", args=[self.alpha.pk])
        response = self.client.post(url, self.server_data())
        body = response.getvalue().decode()
        self.assertNotIn(self.server.password, body)
        report = json.loads(body.splitlines()[-1])["report"]
        self.assertEqual(report["status"], "ok", report)
        self.assertTrue(report["tls"]["certificate"]["chain_valid"])
        self.assertFalse(Instance.objects.filter(name="orders-db").exists())
        self.assertFalse(CheckRun.objects.exists())
        self.assertFalse(AuditEvent.objects.exists())

    def test_it_tests_an_edit_with_the_stored_password_at_the_stored_address(self):
        instance = instance_on(self.server, self.alpha, "live-pg")
        url = reverse("instance-edit-test", args=["live-pg"])
        response = self.client.post(url, admin_form_data(instance, status="resizing"))
        report = events(response)[-1]["report"]
        self.assertEqual(report["status"], "ok", report)
        wrong = admin_form_data(instance, new_password="not-the-password")
        failed = events(self.client.post(url, wrong))[-1]["report"]
        self.assertEqual(failed["status"], "fail")
        instance.refresh_from_db()
        self.assertEqual(
            (instance.status, stored_password(instance)), ("active", self.server.password)
        )
