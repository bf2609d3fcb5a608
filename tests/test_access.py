from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from instances.models import Membership, Role
from tests.base import CA_PEM, TEST_PASSWORD, BaseTestCase, make_instance


class AccessTests(BaseTestCase):
    def test_it_sends_anonymous_users_to_login(self):
        response = self.client.get(reverse("instance-list"))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))

    def test_it_lists_only_the_users_teams(self):
        self.client.force_login(self.viewer)
        response = self.client.get(reverse("instance-list"))
        assert b"alpha-pg" in response.content
        assert b"alpha-cache" in response.content
        assert b"beta-pg" not in response.content
        assert TEST_PASSWORD.encode() not in response.content

    def test_it_answers_404_for_another_teams_instance(self):
        self.client.force_login(self.outsider)
        for name in ("instance-settings", "instance-check", "instance-activity"):
            response = self.client.get(reverse(name, args=["alpha-pg"]))
            assert response.status_code == 404, name
        assert self.client.get(reverse("instance-settings", args=["beta-pg"])).status_code == 200

    def test_it_searches_by_name_and_host(self):
        self.client.force_login(self.admin)
        response = self.client.get(reverse("instance-list"), {"q": "cache"})
        assert b"alpha-cache" in response.content and b"alpha-pg<" not in response.content
        response = self.client.get(reverse("instance-list"), {"q": "alpha-pg.db"})
        assert b"alpha-pg" in response.content
        response = self.client.get(reverse("instance-list"), {"q": "nothing-like-it"})
        assert b"No instance matches" in response.content

    def test_it_lists_with_a_fixed_number_of_queries(self):
        self.client.force_login(self.admin)
        self.client.get(reverse("instance-list"))  # warm up session and caches
        with CaptureQueriesContext(connection) as few:
            self.client.get(reverse("instance-list"))
        for i in range(40):
            make_instance(self.alpha if i % 2 else self.beta, f"bulk-{i}")
        Membership.objects.create(user=self.admin, team=self.beta, role=Role.VIEWER)
        with CaptureQueriesContext(connection) as many:
            response = self.client.get(reverse("instance-list"))
        assert response.content.count(b"bulk-") >= 40
        assert len(many) == len(few)

    def test_it_paginates_long_lists(self):
        for i in range(105):
            make_instance(self.alpha, f"page-{i:03d}")
        self.client.force_login(self.admin)
        first = self.client.get(reverse("instance-list"))
        assert b"Page 1 of 2 (107 instances)" in first.content
        second = self.client.get(reverse("instance-list"), {"page": 2})
        assert b"page-104" in second.content and b"page-000" not in second.content

    def test_it_serves_the_ca_certificate_only_when_there_is_one(self):
        self.client.force_login(self.viewer)
        assert self.client.get(reverse("instance-ca", args=["alpha-pg"])).status_code == 404
        self.pg.ca_cert = pem = CA_PEM
        self.pg.save()
        response = self.client.get(reverse("instance-ca", args=["alpha-pg"]))
        assert response.status_code == 200
        assert response.content.decode() == pem
        assert 'filename="alpha-pg-ca.pem"' in response["Content-Disposition"]

    def test_it_reports_health_without_secrets(self):
        response = self.client.get(reverse("healthz"))
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "database": "ok"}


class AddMemberTests(BaseTestCase):
    def run_command(self, *args: str, stdin: str | None = None) -> str:
        out = io.StringIO()
        if stdin is not None:
            import sys

            old, sys.stdin = sys.stdin, io.StringIO(stdin)
            try:
                call_command("add_member", *args, stdout=out)
            finally:
                sys.stdin = old
        else:
            call_command("add_member", *args, stdout=out)
        return out.getvalue()

    def test_it_creates_team_and_user_with_unusable_password(self):
        output = self.run_command("Delta", "dora", "--role", "member")
        assert "dora is member of Delta (created team and user)" in output
        user = User.objects.get(username="dora")
        assert not user.has_usable_password()
        assert user.memberships.get().role == "member"

    def test_it_reads_the_password_from_stdin(self):
        self.run_command(
            "Delta", "dora", "--role", "admin", "--password-stdin", stdin="S3cure-horse-battery\n"
        )
        assert User.objects.get(username="dora").check_password("S3cure-horse-battery")

    def test_it_changes_an_existing_role(self):
        self.run_command("Alpha", "charlie", "--role", "admin")
        assert Membership.objects.get(user=self.viewer, team=self.alpha).role == "admin"

    def test_it_rejects_a_weak_password_and_changes_nothing(self):
        with pytest.raises(CommandError) as error:
            self.run_command("Delta", "dora", "--role", "admin", "--password-stdin", stdin="123\n")
        assert error.value.returncode == 2
        assert not User.objects.filter(username="dora").exists()
