"""The API's pages in a browser: the Tokens page by keyboard on a phone, and the API
documentation (Swagger UI from the portal's own static files) under the strict CSP."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from api.models import ApiToken
from instances.models import AuditEvent
from tests.e2e.conftest import screenshot, serious_accessibility_violations, sign_in

pytestmark = pytest.mark.e2e
PHONE = {"width": 375, "height": 800}


def test_it_creates_and_revokes_a_token_by_keyboard_on_a_phone(new_context, portal) -> None:
    page = new_context(viewport=PHONE).new_page()
    sign_in(page, "alice")
    page.goto(f"/instances/{portal.pg.name}/")
    page.get_by_role("link", name="API tokens").click()
    expect(page.get_by_role("heading", name="API tokens", level=1)).to_be_visible()

    page.get_by_label("Name").focus()
    page.keyboard.type("deploy pipeline")
    page.keyboard.press("Tab")  # the first scope, settings, is checked already
    page.keyboard.press("Tab")
    expect(page.get_by_label("reveal: read the password (audited)")).to_be_focused()
    page.keyboard.press("Space")
    page.get_by_role("button", name="Create token").focus()
    page.keyboard.press("Enter")

    notice = page.get_by_role("alert").filter(has_text="shown only this once")
    expect(notice).to_be_visible()
    plaintext = page.locator("#new-token").inner_text()
    assert plaintext.startswith("zkp_")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "api-tokens-phone")

    answer = page.request.get(
        f"/api/v1/instances/{portal.pg.name}", headers={"Authorization": f"Bearer {plaintext}"}
    )
    assert answer.status == 200
    assert answer.json()["connection"]["password"] is None

    page.get_by_role("button", name="Revoke token deploy pipeline").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="is revoked")).to_be_visible()
    assert plaintext not in page.content()
    assert ApiToken.objects.get().revoked_at is not None
    assert AuditEvent.objects.filter(action="api_token_revoked").count() == 1
    refused = page.request.get(
        "/api/v1/instances", headers={"Authorization": f"Bearer {plaintext}"}
    )
    assert refused.status == 401


def test_it_has_no_serious_accessibility_problems_on_the_tokens_page(
    new_context, axe_script, portal
) -> None:
    page = new_context(bypass_csp=True).new_page()
    sign_in(page, "alice")
    page.goto(f"/teams/{portal.alpha.pk}/tokens/")
    page.get_by_label("Name").fill("ci")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_text("shown only this once")).to_be_visible()
    assert serious_accessibility_violations(page, axe_script) == []


def test_it_serves_the_api_docs_from_the_portal_under_the_csp(page: Page, portal) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto("/api/v1/docs")
    expect(page.get_by_role("heading", name="Zektor Portal API")).to_be_visible()
    expect(page.get_by_text("/api/v1/instances/{name}/reveal")).to_be_visible()
    origin = page.url.split("/api/")[0]
    assert [url for url in requested if not url.startswith(origin)] == []
    screenshot(page, "api-docs", full_page=False)
