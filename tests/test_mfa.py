"""Second factors for local accounts (real TOTP codes from pyotp), team policy, step-up."""

from __future__ import annotations

import re
import time

import pyotp
from allauth.mfa.models import Authenticator
from django.core.cache import cache
from django.http.response import HttpResponseBase
from django.test import Client, override_settings
from django.urls import reverse

from accounts.models import TeamPolicy
from accounts.stepup import SESSION_KEY
from instances.models import AuditEvent
from tests.base import TEST_PASSWORD, BaseTestCase, expire_proof

SECRET_RE = re.compile(r"data-totp-secret>([A-Z2-7]+)<")
CODE_RE = re.compile(r"<li><code>([^<]+)</code></li>")


# Codes from neighbouring 30-second steps, so a test need not wait for a fresh one.
@override_settings(MFA_TOTP_TOLERANCE=2)
class MFATestCase(BaseTestCase):
    def setUp(self) -> None:
        cache.clear()  # allauth's used-code and rate-limit records

    def password_sign_in(
        self, username: str, next_url: str = ""
    ) -> tuple[Client, HttpResponseBase]:
        client = Client()
        data = {"username": username, "password": "password", "next": next_url}
        return client, client.post("/login/", data)

    def enrol(self, client: Client) -> tuple[pyotp.TOTP, list[str]]:
        page = client.get(reverse("totp_activate"))
        found = SECRET_RE.search(page.content.decode())
        assert found is not None
        totp = pyotp.TOTP(found.group(1))
        response = client.post(reverse("totp_activate"), {"code": totp.now()})
        self.assertContains(response, "Recovery codes")
        return totp, CODE_RE.findall(response.content.decode())

    def enrolled(self, user) -> tuple[pyotp.TOTP, list[str]]:
        client = Client()
        client.force_login(user)
        return self.enrol(client)


class EnrolmentTests(MFATestCase):
    def test_it_enrols_an_authenticator_app_with_a_real_code(self) -> None:
        client = Client()
        client.force_login(self.member)
        page = client.get(reverse("account"))
        self.assertContains(page, "Set up an authenticator app")
        activate = client.get(reverse("totp_activate"))
        self.assertContains(activate, 'src="data:image/svg+xml;base64,')
        response = client.post(reverse("totp_activate"), {"code": "000000"})
        self.assertContains(response, "Incorrect code")
        self.assertFalse(Authenticator.objects.filter(user=self.member).exists())
        _, codes = self.enrol(client)
        self.assertEqual(len(codes), 10)
        types = set(Authenticator.objects.filter(user=self.member).values_list("type", flat=True))
        self.assertEqual(types, {"totp", "recovery_codes"})
        self.assertTrue(AuditEvent.objects.filter(action="mfa_enabled", actor=self.member))
        self.assertContains(client.get(reverse("account")), "10 unused recovery codes")

    def test_it_asks_for_the_code_at_sign_in(self) -> None:
        totp, _ = self.enrolled(self.member)
        client, response = self.password_sign_in("bob", "/instances/alpha-pg/")
        self.assertRedirects(response, reverse("login-code"), fetch_redirect_response=False)
        self.assertNotIn("_auth_user_id", client.session)
        self.assertEqual(client.get("/").status_code, 302)
        wrong = client.post(reverse("login-code"), {"code": "123456"})
        self.assertContains(wrong, "That code is not right")
        self.assertNotIn("_auth_user_id", client.session)
        failed = AuditEvent.objects.get(action="login_failed")
        self.assertEqual(failed.detail["step"], "second_factor")
        response = client.post(reverse("login-code"), {"code": totp.now()})
        self.assertRedirects(response, "/instances/alpha-pg/", fetch_redirect_response=False)
        self.assertEqual(client.session[SESSION_KEY]["method"], "totp")

    def test_it_takes_each_recovery_code_once(self) -> None:
        _, codes = self.enrolled(self.member)
        client, _ = self.password_sign_in("bob")
        response = client.post(reverse("login-code"), {"code": codes[0]})
        self.assertRedirects(response, "/", fetch_redirect_response=False)
        self.assertEqual(client.session[SESSION_KEY]["method"], "recovery_code")
        again, _ = self.password_sign_in("bob")
        self.assertContains(again.post(reverse("login-code"), {"code": codes[0]}), "not right")
        self.assertNotIn("_auth_user_id", again.session)

    def test_it_removes_the_authenticator_app_and_its_recovery_codes(self) -> None:
        client = Client()
        client.force_login(self.member)
        self.enrol(client)
        self.assertRedirects(client.post(reverse("totp_remove")), reverse("account"))
        self.assertFalse(Authenticator.objects.filter(user=self.member).exists())
        self.assertTrue(AuditEvent.objects.filter(action="mfa_disabled", actor=self.member))
        _, response = self.password_sign_in("bob")
        self.assertRedirects(response, "/", fetch_redirect_response=False)

    def test_it_refuses_a_code_step_without_a_password_first(self) -> None:
        response = Client().post(reverse("login-code"), {"code": "123456"})
        self.assertRedirects(response, "/login/", fetch_redirect_response=False)


class TeamPolicyTests(MFATestCase):
    def test_it_makes_members_enrol_at_their_next_sign_in(self) -> None:
        member = Client()
        member.force_login(self.member)
        policy_url = reverse("team-security", args=[self.alpha.pk])
        self.assertEqual(member.post(policy_url, {"require_mfa": "on"}).status_code, 403)
        admin = Client()
        admin.force_login(self.admin)
        response = admin.post(policy_url, {"require_mfa": "on"})
        self.assertRedirects(response, reverse("account"))
        self.assertTrue(TeamPolicy.objects.get(team=self.alpha).require_mfa)
        self.assertTrue(AuditEvent.objects.filter(action="team_policy_changed", team=self.alpha))

        client, _ = self.password_sign_in("bob")
        self.assertRedirects(client.get("/"), reverse("totp_activate"))
        self.assertRedirects(
            client.get("/instances/alpha-pg/"), reverse("totp_activate"), target_status_code=200
        )
        self.assertContains(client.get(reverse("totp_activate")), "Your team requires")
        self.enrol(client)
        self.assertEqual(client.get("/").status_code, 200)
        refused = client.post(reverse("totp_remove"), follow=True)
        self.assertContains(refused, "requires a second factor: keep at least one")
        self.assertTrue(Authenticator.objects.filter(user=self.member, type="totp").exists())
        outsider, _ = self.password_sign_in("bea")  # team Beta does not require it
        self.assertEqual(outsider.get("/").status_code, 200)


class StepUpTests(MFATestCase):
    reveal_url = reverse("instance-reveal", args=["alpha-pg"])
    copy_url = reverse("instance-copy", args=["alpha-pg"])

    def signed_in_with_totp(self) -> tuple[Client, pyotp.TOTP, list[str]]:
        totp, codes = self.enrolled(self.member)
        client, _ = self.password_sign_in("bob")
        client.post(reverse("login-code"), {"code": totp.at(time.time() - 30)})
        return client, totp, codes

    def test_it_counts_the_sign_in_then_asks_before_a_reveal_and_not_again(self) -> None:
        client, totp, _ = self.signed_in_with_totp()
        self.assertContains(client.post(self.reveal_url), "shown for this page view only")
        expire_proof(client)
        asked = client.post(self.reveal_url)
        self.assertContains(asked, "Confirm it is you", status_code=401)
        self.assertContains(asked, 'name="step_up_code"', status_code=401)
        self.assertNotContains(asked, TEST_PASSWORD, status_code=401)
        wrong = client.post(self.reveal_url, {"step_up_code": "000000"})
        self.assertContains(wrong, "That code is not right", status_code=401)
        self.assertEqual(AuditEvent.objects.filter(action="reveal").count(), 1)
        response = client.post(self.reveal_url, {"step_up_code": totp.now()})
        self.assertContains(response, "shown for this page view only")
        self.assertContains(client.post(self.reveal_url), "shown for this page view only")
        proofs = list(
            AuditEvent.objects.filter(action="reveal")
            .order_by("id")
            .values_list("detail", flat=True)
        )
        self.assertEqual(proofs, [{"proof": "totp"}, {"proof": "totp"}, {"proof": "totp"}])
        actions = AuditEvent.objects.filter(action__startswith="step_up").order_by("id")
        self.assertEqual([e.outcome for e in actions], ["fail", "ok"])

    def test_it_takes_a_recovery_code_as_the_proof(self) -> None:
        client, _, codes = self.signed_in_with_totp()
        expire_proof(client)
        response = client.post(self.reveal_url, {"step_up_code": codes[3]})
        self.assertContains(response, "shown for this page view only")
        self.assertEqual(AuditEvent.objects.get(action="reveal").detail["proof"], "recovery_code")

    def test_it_asks_a_copy_in_place_through_json(self) -> None:
        client, totp, _ = self.signed_in_with_totp()
        expire_proof(client)
        body = '{"field": "password"}'
        asked = client.post(self.copy_url, body, content_type="application/json")
        self.assertEqual(asked.status_code, 401)
        self.assertEqual(asked.json()["error"], "step_up_required")
        self.assertEqual(asked.json()["methods"], ["code"])
        step_up = reverse("step-up")
        bad = client.post(step_up, {"code": "000000"}, content_type="application/json")
        self.assertEqual(bad.status_code, 400)
        good = client.post(step_up, {"code": totp.now()}, content_type="application/json")
        self.assertEqual(good.json(), {"method": "totp"})
        copied = client.post(self.copy_url, body, content_type="application/json")
        self.assertEqual(copied.json(), {"value": TEST_PASSWORD})

    def test_it_asks_users_without_a_second_factor_for_their_password(self) -> None:
        client, _ = self.password_sign_in("bob")
        expire_proof(client)
        download = reverse("team-env", args=[self.alpha.pk])
        asked = client.post(download)
        self.assertContains(asked, 'name="step_up_password"', status_code=401)
        wrong = client.post(download, {"step_up_password": "guess"})
        self.assertContains(wrong, "That password is not right", status_code=401)
        response = client.post(download, {"step_up_password": "password"})
        self.assertEqual(response["Content-Disposition"], 'attachment; filename=".env"')
        proofs = set(
            AuditEvent.objects.filter(action="env_download").values_list("detail__proof", flat=True)
        )
        self.assertEqual(proofs, {"password"})

    def test_it_asks_before_starting_a_rotation_and_carries_the_form_on(self) -> None:
        client, _ = self.password_sign_in("alice")
        expire_proof(client)
        rotate = reverse("rotation-start", args=["alpha-pg"])
        asked = client.post(rotate, {"grace_seconds": "300", "new_password": "typed-secret"})
        self.assertContains(asked, 'name="grace_seconds" value="300"', status_code=401)
        self.assertNotContains(asked, "typed-secret", status_code=401)
        self.assertContains(asked, "was not kept", status_code=401)
        self.assertFalse(self.pg.rotations.exists())

    @override_settings(ZEKTOR_STEP_UP_SECONDS=30)
    def test_it_lets_the_window_be_configured(self) -> None:
        client, _ = self.password_sign_in("bob")
        session = client.session
        session[SESSION_KEY] = {**session[SESSION_KEY], "at": session[SESSION_KEY]["at"] - 31}
        session.save()
        self.assertEqual(client.post(self.reveal_url).status_code, 401)
