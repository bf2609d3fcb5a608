"""Single sign-on through a real OpenID Connect provider (tests/oidc/provider.mjs).

The test client plays the portal's side, requests plays the browser at the provider; the
portal fetches discovery, keys, tokens and userinfo from the provider over real HTTP.
"""

from __future__ import annotations

from contextlib import ExitStack

from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.urls import reverse

from accounts.stepup import SESSION_KEY
from instances.models import AuditEvent, Membership, Role, Team
from tests.base import TEST_PASSWORD, BaseTestCase
from tests.oidc_provider import (
    CALLBACK_PATH,
    Provider,
    query_of,
    running_provider,
    sign_in_at_provider,
    sso_settings,
)

LOGIN_START = "/accounts/oidc/sso/login/"


class SSOTestCase(BaseTestCase):
    stack: ExitStack
    provider: Provider

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.stack = ExitStack()
        cls.provider = cls.stack.enter_context(
            running_provider([f"http://testserver{CALLBACK_PATH}"])
        )
        cls.stack.enter_context(override_settings(**sso_settings(cls.provider.issuer)))

    @classmethod
    def tearDownClass(cls) -> None:
        cls.stack.close()
        super().tearDownClass()

    def setUp(self) -> None:
        self.provider.id_token_mode("normal")

    def start(self, client: Client, query: str = "?process=login") -> str:
        response = client.get(LOGIN_START + query)
        self.assertEqual(response.status_code, 302, response.content[:500])
        self.assertTrue(response["Location"].startswith(self.provider.issuer))
        return response["Location"]

    def sso_sign_in(self, login: str, groups: list[str], client: Client | None = None):
        self.provider.set_account(login, groups)
        client = client or Client()
        back = sign_in_at_provider(self.start(client), login)
        return client, client.get(back)

    def user_named(self, login: str):
        return get_user_model().objects.get(socialaccount__uid=login)


class SignInTests(SSOTestCase):
    def test_it_offers_sso_on_the_login_page(self) -> None:
        page = Client().get("/login/?next=/instances/alpha-pg/")
        self.assertContains(page, "Sign in with Test IdP")
        self.assertContains(
            page, f"{LOGIN_START}?process=login&amp;next=%2Finstances%2Falpha-pg%2F"
        )
        self.assertContains(page, 'name="password"')

    def test_it_sends_a_code_flow_request_with_pkce_state_and_nonce(self) -> None:
        query = query_of(self.start(Client()))
        self.assertEqual(query["response_type"], "code")
        self.assertEqual(query["client_id"], "zektor-portal")
        self.assertEqual(query["code_challenge_method"], "S256")
        for name in ("state", "nonce", "code_challenge"):
            self.assertGreaterEqual(len(query[name]), 16, name)
        self.assertIn("groups", query["scope"].split())

    def test_it_signs_in_and_lands_with_the_mapped_role(self) -> None:
        client, response = self.sso_sign_in("dana", ["developers", "support", "unmapped"])
        self.assertRedirects(response, "/", fetch_redirect_response=False)
        page = client.get("/")
        self.assertContains(page, "alpha-pg")
        user = self.user_named("dana")
        self.assertEqual(user.memberships.get().team, self.alpha)
        self.assertEqual(user.memberships.get().role, Role.MEMBER)  # highest of the two
        self.assertFalse(user.has_usable_password())
        event = AuditEvent.objects.get(action="member_added")
        self.assertEqual(event.team, self.alpha)
        self.assertEqual(event.detail, {"member": user.username, "role": "member", "source": "sso"})
        self.assertEqual(client.session[SESSION_KEY]["method"], "sso")
        self.assertContains(client.get(reverse("account")), "its own second-factor rules apply")
        self.assertRedirects(client.get(reverse("totp_activate")), reverse("account"))

    def test_it_changes_and_removes_roles_as_the_provider_says(self) -> None:
        self.sso_sign_in("erin", ["db-admins", "beta-devs"])
        user = self.user_named("erin")
        roles = dict(user.memberships.values_list("team__name", "role"))
        self.assertEqual(roles, {"Alpha": "admin", "Beta": "member"})
        self.sso_sign_in("erin", ["support"])
        roles = dict(user.memberships.values_list("team__name", "role"))
        self.assertEqual(roles, {"Alpha": "viewer"})
        client, _ = self.sso_sign_in("erin", [])
        self.assertFalse(user.memberships.exists())
        self.assertEqual(client.get("/instances/alpha-pg/").status_code, 404)
        actions = list(
            AuditEvent.objects.filter(action__startswith="member_")
            .order_by("id")
            .values_list("action", "team__name", "detail__role")
        )
        self.assertEqual(
            actions,
            [
                ("member_added", "Alpha", "admin"),
                ("member_added", "Beta", "member"),
                ("member_role_changed", "Alpha", {"before": "admin", "after": "viewer"}),
                ("member_removed", "Beta", "member"),
                ("member_removed", "Alpha", "viewer"),
            ],
        )

    def test_it_leaves_unmapped_teams_and_local_accounts_alone(self) -> None:
        Team.objects.create(name="Gamma")
        self.sso_sign_in("bob", ["db-admins"])  # same name as the local user bob
        sso_bob = self.user_named("bob")
        self.assertNotEqual(sso_bob, self.member)
        self.assertEqual(self.member.memberships.get().role, Role.MEMBER)
        self.assertEqual(Team.objects.filter(name="Gamma").count(), 1)


class RefusedAnswerTests(SSOTestCase):
    def assert_refused(self, client: Client, response, message: str) -> None:
        self.assertContains(response, "Single sign-on failed", status_code=401)
        self.assertContains(response, message, status_code=401)
        self.assertNotIn("_auth_user_id", client.session)
        self.assertFalse(Membership.objects.filter(user__socialaccount__isnull=False).exists())
        self.assertTrue(AuditEvent.objects.filter(action="login_failed").exists())

    def test_it_refuses_an_answer_with_a_bad_state(self) -> None:
        self.provider.set_account("fay", ["db-admins"])
        client = Client()
        back = sign_in_at_provider(self.start(client), "fay")
        state = query_of(back)["state"]
        response = client.get(back.replace(f"state={state}", "state=forged-state-value"))
        self.assert_refused(client, response, "does not belong to a sign-in started")

    def test_it_refuses_a_state_from_another_browser(self) -> None:
        self.provider.set_account("fay", ["db-admins"])
        back = sign_in_at_provider(self.start(Client()), "fay")
        other = Client()
        self.assert_refused(other, other.get(back), "does not belong to a sign-in started")

    def test_it_refuses_an_id_token_for_another_audience(self) -> None:
        self.provider.id_token_mode("wrong-audience")
        client, response = self.sso_sign_in("gus", ["db-admins"])
        self.assert_refused(client, response, "wrong audience")

    def test_it_refuses_an_expired_id_token(self) -> None:
        self.provider.id_token_mode("expired")
        client, response = self.sso_sign_in("gus", ["db-admins"])
        self.assert_refused(client, response, "has expired")

    def test_it_says_so_when_the_provider_is_down(self) -> None:
        with running_provider([f"http://testserver{CALLBACK_PATH}"]) as gone:
            issuer = gone.issuer
        with override_settings(**sso_settings(issuer)):
            client = Client()
            response = client.get(LOGIN_START + "?process=login")
        self.assert_refused(client, response, "could not be reached")


class LocalLoginOffTests(SSOTestCase):
    def test_it_hides_the_form_and_refuses_password_posts(self) -> None:
        with override_settings(ZEKTOR_LOCAL_LOGIN=False):
            page = Client().get("/login/")
            self.assertContains(page, "Sign in with Test IdP")
            self.assertNotContains(page, 'name="password"')
            client = Client()
            response = client.post("/login/", {"username": "bob", "password": "password"})
            self.assertContains(response, "Password sign-in is turned off", status_code=403)
            self.assertNotIn("_auth_user_id", client.session)


class StepUpWithSSOTests(SSOTestCase):
    def test_it_asks_for_a_fresh_sso_sign_in_before_a_reveal(self) -> None:
        client, _ = self.sso_sign_in("hana", ["developers"])
        session = client.session
        session[SESSION_KEY] = {"method": "sso", "at": 0}
        session.save()
        settings_page = reverse("instance-settings", args=["alpha-pg"])
        reveal = reverse("instance-reveal", args=["alpha-pg"])
        response = client.post(reveal, HTTP_REFERER=f"http://testserver{settings_page}")
        self.assertContains(response, "Confirm with Test IdP", status_code=401)
        self.assertNotContains(response, TEST_PASSWORD, status_code=401)
        reauth = response.context["sso_url"]
        authorize = self.start(client, reauth.removeprefix(LOGIN_START))
        self.assertEqual(
            (query_of(authorize)["prompt"], query_of(authorize)["max_age"]), ("login", "0")
        )
        back = sign_in_at_provider(authorize, "hana")
        resume = reverse("step-up-resume")
        self.assertRedirects(client.get(back), resume, fetch_redirect_response=False)
        self.assertEqual(client.session[SESSION_KEY]["method"], "sso")
        carry_on = client.get(resume)  # its form posts the reveal again (static/js/portal.js)
        self.assertContains(carry_on, f'action="{reveal}" class="stack" data-autosubmit')
        response = client.post(reveal)
        self.assertContains(response, "The password is shown for this page view only")
        self.assertEqual(AuditEvent.objects.get(action="reveal").detail, {"proof": "sso"})
