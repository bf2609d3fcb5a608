"""Single sign-on, second factors and step-up in Chromium, against the real provider."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from playwright.sync_api import Page, expect

from accounts.stepup import SESSION_KEY
from instances.models import AuditEvent, Membership, Role
from tests.base import TEST_PASSWORD
from tests.e2e.conftest import USER_PASSWORD, screenshot
from tests.oidc_provider import (
    CALLBACK_PATH,
    IDP_PASSWORD,
    Provider,
    running_provider,
    sso_settings,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def provider(live_server, settings) -> Iterator[Provider]:
    with running_provider([f"{live_server.url}{CALLBACK_PATH}"]) as running:
        for name, value in sso_settings(running.issuer).items():
            setattr(settings, name, value)
        yield running


def sso_sign_in(page: Page, login: str) -> None:
    page.goto("/login/")
    page.get_by_role("link", name="Sign in with Test IdP").click()
    if page.get_by_label("IdP username").count():
        page.get_by_label("IdP username").fill(login)
        page.get_by_label("IdP password").fill(IDP_PASSWORD)
        page.get_by_role("button", name="Continue to the portal").click()


def test_it_signs_in_with_sso_and_follows_the_providers_groups(
    page: Page, portal, provider: Provider
) -> None:
    provider.set_account("dana", ["developers"])
    page.goto("/login/")
    screenshot(page, "login-sso")
    sso_sign_in(page, "dana")
    expect(page.get_by_role("heading", name="Your instances")).to_be_visible()
    expect(page.get_by_role("link", name="orders-db")).to_be_visible()
    user = User.objects.get(socialaccount__uid="dana")
    assert Membership.objects.get(user=user).role == Role.MEMBER

    provider.set_account("dana", [])  # removed from the group at the provider
    page.get_by_role("button", name="Sign out").click()
    sso_sign_in(page, "dana")
    expect(page.get_by_role("heading", name="Your instances")).to_be_visible()
    expect(page.get_by_role("link", name="orders-db")).to_have_count(0)
    assert not Membership.objects.filter(user=user).exists()
    assert AuditEvent.objects.filter(action="member_removed", team=portal.alpha).exists()


@pytest.mark.parametrize(
    ("mode", "message"),
    [("wrong-audience", "wrong audience"), ("expired", "has expired")],
)
def test_it_refuses_bad_id_tokens_with_a_clear_message(
    page: Page, portal, provider: Provider, mode: str, message: str
) -> None:
    provider.set_account("gus", ["db-admins"])
    provider.id_token_mode(mode)
    sso_sign_in(page, "gus")
    expect(page.get_by_role("heading", name="Single sign-on failed")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text(message)
    page.goto("/")
    expect(page).to_have_url("/login/?next=/")


def test_it_refuses_a_bad_state_and_a_provider_that_is_down(
    page: Page, portal, provider: Provider, live_server
) -> None:
    page.goto(f"{CALLBACK_PATH}?code=forged&state=forged")
    expect(page.get_by_role("alert")).to_contain_text("does not belong to a sign-in started")
    provider.stop()
    page.goto("/login/")
    page.get_by_role("link", name="Sign in with Test IdP").click()
    expect(page.get_by_role("alert")).to_contain_text("could not be reached")
    screenshot(page, "sso-provider-down")


def totp_for(username: str) -> pyotp.TOTP:
    user = User.objects.get(username=username)
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    assert Authenticator.objects.filter(user=user).exists()
    return pyotp.TOTP(secret)


def expire_proof(page: Page) -> None:
    key = next(c["value"] for c in page.context.cookies() if c["name"] == "sessionid")
    session = SessionStore(session_key=key)
    session[SESSION_KEY] = {**session[SESSION_KEY], "at": 0}
    session.save()


def test_it_asks_for_a_code_before_a_secret_and_then_carries_on(
    page: Page, portal, settings
) -> None:
    settings.MFA_TOTP_TOLERANCE = 2  # codes of neighbouring 30 s steps: no waiting for new ones
    totp = totp_for("bob")
    page.goto("/login/")
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill(USER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("textbox", name="Authentication code").fill(totp.at(time.time() - 30))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Your instances")).to_be_visible()
    expire_proof(page)

    page.goto("/instances/orders-db/")
    page.get_by_role("button", name="Copy password (recorded in the audit log)").click()
    dialog = page.get_by_role("dialog", name="Confirm it is you")
    expect(dialog).to_be_visible()
    screenshot(page, "step-up-dialog", full_page=False)
    dialog.get_by_label("Authentication code or recovery code").fill(totp.now())
    dialog.get_by_role("button", name="Confirm and continue").click()
    copy = page.get_by_role("button", name="Copy password (recorded in the audit log)")
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == TEST_PASSWORD

    page.get_by_role("button", name="Reveal password").click()  # within the window: no question
    expect(page.locator(".notice")).to_contain_text("shown for this page view only")
    proofs = AuditEvent.objects.filter(action__in=["copy", "reveal"]).values_list(
        "detail__proof", flat=True
    )
    assert list(proofs) == ["totp", "totp"]

    expire_proof(page)
    page.goto("/instances/orders-db/")
    page.get_by_role("button", name="Reveal password").click()
    expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    page.get_by_label("Authentication code or recovery code").fill(totp.at(time.time() + 30))
    page.get_by_role("button", name="Confirm and continue").click()
    expect(page.locator(".notice")).to_contain_text("shown for this page view only")


def virtual_authenticator(page: Page) -> None:
    """Chromium's virtual security key (DevTools protocol), with a touch already given."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    options = {
        "protocol": "ctap2",
        "transport": "usb",
        "hasResidentKey": False,
        "hasUserVerification": True,
        "isUserVerified": True,
        "automaticPresenceSimulation": True,
    }
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})


def test_it_adds_a_security_key_and_signs_in_and_steps_up_with_it(page: Page, portal) -> None:
    virtual_authenticator(page)
    page.goto("/login/")
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill(USER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Account").click()
    page.get_by_role("link", name="Add a security key or passkey").click()
    page.get_by_label("Name").fill("desk key")
    page.get_by_role("button", name="Add key").click()
    expect(page.get_by_role("heading", name="Recovery codes")).to_be_visible()
    assert Authenticator.objects.filter(user__username="bob", type="webauthn").exists()

    page.get_by_role("link", name="Done").click()
    page.get_by_role("button", name="Sign out").click()
    page.goto("/login/")
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill(USER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Use your security key").click()
    expect(page.get_by_role("heading", name="Your instances")).to_be_visible()
    expire_proof(page)

    page.goto("/instances/orders-db/")
    page.get_by_role("button", name="Copy password (recorded in the audit log)").click()
    page.get_by_role("dialog").get_by_role("button", name="Use your security key").click()
    expect(
        page.get_by_role("button", name="Copy password (recorded in the audit log)")
    ).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == TEST_PASSWORD
    expire_proof(page)
    page.get_by_role("button", name="Reveal password").click()
    page.get_by_role("button", name="Use your security key").click()
    expect(page.locator(".notice")).to_contain_text("shown for this page view only")
    proofs = AuditEvent.objects.filter(action__in=["copy", "reveal"]).values_list(
        "detail__proof", flat=True
    )
    assert list(proofs) == ["webauthn", "webauthn"]


def test_it_steps_up_with_a_fresh_sso_sign_in_and_carries_the_reveal_on(
    page: Page, portal, provider: Provider
) -> None:
    provider.set_account("hana", ["developers"])
    sso_sign_in(page, "hana")
    expect(page.get_by_role("heading", name="Your instances")).to_be_visible()
    expire_proof(page)
    page.goto("/instances/orders-db/")
    page.get_by_role("button", name="Reveal password").click()
    page.get_by_role("link", name="Confirm with Test IdP").click()
    page.get_by_label("IdP username").fill("hana")  # prompt=login: the provider asks again
    page.get_by_label("IdP password").fill(IDP_PASSWORD)
    page.get_by_role("button", name="Continue to the portal").click()
    expect(page.locator(".notice")).to_contain_text("shown for this page view only")
    assert AuditEvent.objects.get(action="reveal").detail == {"proof": "sso"}
