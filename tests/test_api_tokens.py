"""Team API tokens: the Tokens page of team admins and the create/revoke commands."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.urls import reverse

from accounts.stepup import SESSION_KEY
from api import tokens
from api.models import ApiToken
from api.tokens import PREFIX_LENGTH
from instances.models import AuditEvent, Team
from tests.api_support import call
from tests.base import BaseTestCase, expire_proof
from tests.test_no_plaintext import database_dump


class TokensPageTests(BaseTestCase):
    def page(self) -> str:
        return f"/teams/{self.alpha.pk}/tokens/"

    def signed_in(self, user, **options) -> Client:
        client = Client(**options)
        client.force_login(user)
        return client

    def create(self, client: Client, **fields):
        data = {"name": "deploy", "scopes": ["settings", "reveal"], "days": "30", **fields}
        return client.post(self.page(), data)

    def test_it_is_for_team_admins_only(self) -> None:
        self.assertEqual(self.signed_in(self.admin).get(self.page()).status_code, 200)
        self.assertEqual(self.signed_in(self.member).get(self.page()).status_code, 403)
        self.assertEqual(self.signed_in(self.outsider).get(self.page()).status_code, 404)
        self.assertEqual(self.create(self.signed_in(self.member)).status_code, 403)
        self.assertFalse(ApiToken.objects.exists())

    def test_it_shows_a_new_token_once_and_stores_only_its_digest(self) -> None:
        client = self.signed_in(self.admin)
        response = self.create(client)
        self.assertEqual(response.status_code, 200)
        token = ApiToken.objects.get()
        plaintext = response.context["issued"].plaintext
        self.assertIn(plaintext, response.content.decode())
        self.assertNotIn(plaintext, json.dumps(list(ApiToken.objects.values()), default=str))
        self.assertEqual((token.scopes, token.created_by), (["reveal", "settings"], self.admin))
        later = client.get(self.page()).content.decode()
        self.assertNotIn(plaintext, later)
        self.assertIn(token.prefix, later)
        path = f"/api/v1/instances/{self.pg.name}"
        self.assertEqual(call("GET", path, plaintext).status_code, 200)

    def test_it_audits_creation_and_revocation(self) -> None:
        client = self.signed_in(self.admin)
        self.create(client)
        token = ApiToken.objects.get()
        response = client.post(f"/teams/{self.alpha.pk}/tokens/{token.pk}/revoke")
        self.assertRedirects(response, self.page())
        token.refresh_from_db()
        self.assertIsNotNone(token.revoked_at)
        events = AuditEvent.objects.filter(action__startswith="api_token").order_by("id")
        self.assertEqual(
            [(e.action, e.actor, e.team) for e in events],
            [
                ("api_token_created", self.admin, self.alpha),
                ("api_token_revoked", self.admin, self.alpha),
            ],
        )
        self.assertIn("Revoked", client.get(self.page()).content.decode())

    def test_it_asks_for_a_fresh_proof_then_carries_the_creation_on(self) -> None:
        client = self.signed_in(self.admin)
        expire_proof(client)
        asked = self.create(client)
        self.assertContains(asked, 'name="step_up_password"', status_code=401)
        self.assertContains(asked, 'name="name" value="deploy"', status_code=401)
        self.assertContains(asked, 'name="scopes" value="reveal"', status_code=401)
        self.assertNotContains(asked, "zkp_", status_code=401)
        wrong = self.create(client, step_up_password="guess")
        self.assertContains(wrong, "That password is not right", status_code=401)
        self.assertFalse(ApiToken.objects.exists())
        response = self.create(client, step_up_password="password")
        self.assertContains(response, "shown only this once")
        self.assertEqual(ApiToken.objects.get().name, "deploy")
        created = AuditEvent.objects.get(action="api_token_created")
        self.assertEqual(created.detail["proof"], "password")
        steps = AuditEvent.objects.filter(action__startswith="step_up").order_by("id")
        self.assertEqual([e.outcome for e in steps], ["fail", "ok"])

    @override_settings(ZEKTOR_STEP_UP_SECONDS=30)
    def test_it_does_not_ask_again_within_the_step_up_window(self) -> None:
        client = self.signed_in(self.admin)
        self.assertContains(self.create(client, name="first"), "shown only this once")
        self.assertContains(self.create(client, name="second"), "shown only this once")
        self.assertEqual(client.get(self.page()).status_code, 200)  # a GET never asks
        session = client.session
        session[SESSION_KEY] = {**session[SESSION_KEY], "at": session[SESSION_KEY]["at"] - 31}
        session.save()
        self.assertEqual(self.create(client, name="third").status_code, 401)
        self.assertEqual(
            sorted(ApiToken.objects.values_list("name", flat=True)), ["first", "second"]
        )
        proofs = AuditEvent.objects.filter(action="api_token_created").values_list(
            "detail__proof", flat=True
        )
        self.assertEqual(list(proofs), ["password", "password"])

    def test_it_refuses_bad_input_and_changes_nothing(self) -> None:
        client = self.signed_in(self.admin)
        bad: list[dict[str, Any]] = [
            {"name": ""},
            {"scopes": []},
            {"scopes": ["root"]},
            {"days": "0"},
        ]
        for fields in bad:
            response = self.create(client, **fields)
            self.assertEqual(response.status_code, 400, fields)
            self.assertIn('aria-invalid="true"', response.content.decode(), fields)
        self.create(client)
        response = self.create(client)
        self.assertContains(response, "already has a token named", status_code=400)
        self.assertEqual(ApiToken.objects.count(), 1)

    def test_it_revokes_only_its_own_teams_tokens(self) -> None:
        self.create(self.signed_in(self.admin))
        token = ApiToken.objects.get()
        outsider = self.signed_in(self.outsider)
        response = outsider.post(f"/teams/{self.beta.pk}/tokens/{token.pk}/revoke")
        self.assertEqual(response.status_code, 404)
        token.refresh_from_db()
        self.assertIsNone(token.revoked_at)

    def test_it_needs_csrf_to_create_or_revoke(self) -> None:
        client = self.signed_in(self.admin, enforce_csrf_checks=True)
        self.assertEqual(self.create(client).status_code, 403)
        self.assertFalse(ApiToken.objects.exists())


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


class TokenCommandTests(BaseTestCase):
    def test_it_prints_a_new_token_once_as_json(self) -> None:
        out, _ = run("create_api_token", "Alpha", "ci", "--scopes", "settings,test", "--json")
        report = json.loads(out)
        self.assertEqual(set(report), {"id", "token", "team", "scopes", "expires_at"})
        self.assertEqual((report["team"], report["scopes"]), ("Alpha", ["settings", "test"]))
        token = ApiToken.objects.get(pk=report["id"])
        self.assertNotEqual(token.digest, report["token"])
        self.assertTrue(report["token"].startswith(token.prefix))
        event = AuditEvent.objects.get(action="api_token_created")
        self.assertEqual(event.actor_name, "create_api_token")

    def test_it_prints_only_the_token_to_stdout_without_json(self) -> None:
        out, err = run("create_api_token", "Alpha", "ci", "--scopes", "settings", "--days", "7")
        self.assertTrue(out.strip().startswith("zkp_"))
        self.assertIn("shown only now", err)

    def test_it_exits_2_on_bad_input_and_creates_nothing(self) -> None:
        bad = [
            ("Nope", "ci", "--scopes", "settings"),
            ("Alpha", "ci", "--scopes", "settings,root"),
            ("Alpha", "ci", "--scopes", ","),
            ("Alpha", "ci", "--scopes", "settings", "--days", "0"),
            ("Alpha", "ci", "--scopes", "settings", "--days", "366"),
            ("Alpha", " ", "--scopes", "settings"),
        ]
        for args in bad:
            with self.assertRaises(CommandError, msg=args) as raised:
                run("create_api_token", *args)
            self.assertEqual(raised.exception.returncode, 2, args)
        self.assertFalse(ApiToken.objects.exists())

    def test_it_revokes_by_id(self) -> None:
        out, _ = run("create_api_token", "Alpha", "ci", "--scopes", "settings", "--json")
        report = json.loads(out)
        out, _ = run("revoke_api_token", str(report["id"]))
        self.assertIn("revoked", out)
        self.assertEqual(call("GET", "/api/v1/instances", report["token"]).status_code, 401)
        self.assertIn("already", run("revoke_api_token", str(report["id"]))[0])
        with self.assertRaises(CommandError) as raised:
            run("revoke_api_token", "999")
        self.assertEqual(raised.exception.returncode, 2)


@pytest.mark.django_db(transaction=True)
def test_it_keeps_no_plaintext_token_in_a_database_dump():
    team = Team.objects.create(name="Dump")
    issued = tokens.issue(team, "ci", ["settings"])
    dump = database_dump()
    assert issued.token.digest in dump  # the dump really holds the row
    assert issued.plaintext not in dump
    assert issued.plaintext[PREFIX_LENGTH:] not in dump


class TokenAdminTests(BaseTestCase):
    def test_it_lists_tokens_without_digest_and_revokes_them(self) -> None:
        root = User.objects.create_superuser("root", password="password")
        self.client.force_login(root)
        issued = tokens.issue(self.alpha, "ci", ["settings"])
        page = self.client.get(reverse("admin:api_apitoken_changelist")).content.decode()
        self.assertIn(issued.token.prefix, page)
        detail = self.client.get(reverse("admin:api_apitoken_change", args=[issued.token.pk]))
        self.assertNotIn(issued.token.digest, detail.content.decode())
        self.client.post(
            reverse("admin:api_apitoken_changelist"),
            {"action": "revoke", "_selected_action": [issued.token.pk]},
        )
        issued.token.refresh_from_db()
        self.assertIsNotNone(issued.token.revoked_at)
        event = AuditEvent.objects.get(action="api_token_revoked")
        self.assertEqual(event.actor, root)
