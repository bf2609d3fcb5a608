"""Signing in, the instance list, the Settings tab: snippets, reveal and copy, roles, layout."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from instances.models import AuditEvent
from instances.snippets import MASK
from tests.base import TEST_PASSWORD
from tests.e2e.conftest import (
    USER_PASSWORD,
    screenshot,
    serious_accessibility_violations,
    sign_in,
)

pytestmark = pytest.mark.e2e

FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  return {label: el.getAttribute('aria-label') || el.textContent.trim(),
          outline: style.outlineStyle !== 'none' && style.outlineWidth !== '0px'};
}"""


def clipboard(page: Page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


def test_it_signs_in_and_lists_the_teams_instances(page: Page, portal) -> None:
    page.goto("/")
    expect(page).to_have_url("/login/?next=/")
    screenshot(page, "login")
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    page.get_by_label("Password").fill(USER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your instances")).to_be_visible()
    expect(page.get_by_role("link", name="orders-db")).to_be_visible()
    expect(page.get_by_role("link", name="sessions-cache")).to_be_visible()
    expect(page.get_by_text("beta-db")).to_have_count(0)
    screenshot(page, "instance-list")

    page.get_by_label("Search by name or host").fill("nothing-like-this")
    page.get_by_label("Search by name or host").press("Enter")
    expect(page.get_by_text("No instance matches")).to_be_visible()
    page.get_by_role("link", name="show all instances").click()
    page.get_by_role("link", name="orders-db").click()
    expect(page.get_by_role("heading", name="orders-db", level=1)).to_be_visible()


def test_it_switches_snippet_languages_and_remembers_the_choice(page: Page, portal) -> None:
    sign_in(page, "bob")
    page.goto(f"/instances/{portal.pg.name}/")
    picker = page.get_by_label("Language")
    picker.select_option("psycopg")
    expect(page.locator("[data-snippet-id=psycopg]")).to_be_visible()
    expect(page.locator("[data-snippet-id=node-pg]")).to_be_hidden()
    picker.select_option("node-pg")
    expect(page.locator("[data-snippet-id=node-pg]")).to_be_visible()
    expect(page.locator("[data-snippet-id=psycopg]")).to_be_hidden()
    page.reload()
    expect(page.get_by_label("Language")).to_have_value("node-pg")


def test_it_copies_each_file_of_the_prisma_snippet_masked_then_revealed(page: Page, portal):
    sign_in(page, "bob")
    page.goto(f"/instances/{portal.pg.name}/")
    page.get_by_label("Language").select_option("prisma")
    env_file = page.locator("[data-snippet-id=prisma] [data-snippet-file='.env']")
    expect(page.locator("[data-snippet-id=prisma] [data-snippet-file]")).to_have_count(4)
    env_file.get_by_role("button", name="Copy").click()
    assert MASK in clipboard(page)
    page.locator("[data-snippet-file='prisma.config.ts']").get_by_role("button").click()
    assert 'url: env("DATABASE_URL")' in clipboard(page)
    page.get_by_role("button", name="Reveal password").click()
    expect(page.locator("#field-password")).to_have_text(TEST_PASSWORD)
    page.get_by_label("Language").select_option("prisma")
    env_file.get_by_role("button", name="Copy").click()
    revealed = clipboard(page)
    assert MASK not in revealed
    assert "DATABASE_URL='postgresql://" in revealed
    assert quote(TEST_PASSWORD, safe="") in revealed


def test_it_reveals_and_copies_the_password_with_an_audit_record(page: Page, portal) -> None:
    sign_in(page, "bob")
    page.goto(f"/instances/{portal.pg.name}/")
    expect(page.locator("#field-password")).to_have_text(MASK)
    assert TEST_PASSWORD not in page.content()

    page.get_by_label("Language").select_option("uri")
    uri_snippet = page.locator("[data-snippet-id=uri]")
    copy_snippet = uri_snippet.get_by_role("button", name="Copy")
    copy_snippet.click()
    expect(copy_snippet).to_have_text("Copied")
    masked_copy = clipboard(page)
    assert MASK in masked_copy
    assert quote(TEST_PASSWORD, safe="") not in masked_copy

    copy_password = page.get_by_role("button", name="Copy password (recorded in the audit log)")
    copy_password.click()
    expect(copy_password).to_have_text("Copied")
    assert clipboard(page) == TEST_PASSWORD
    assert AuditEvent.objects.filter(action="copy", instance=portal.pg).count() == 1

    page.get_by_role("button", name="Reveal password").click()
    expect(page.locator("#field-password")).to_have_text(TEST_PASSWORD)
    expect(page.locator(".notice[role=status]")).to_contain_text("recorded in the audit log")
    screenshot(page, "settings-revealed")
    page.get_by_label("Language").select_option("uri")
    page.locator("[data-snippet-id=uri]").get_by_role("button", name="Copy").click()
    revealed_copy = clipboard(page)
    assert MASK not in revealed_copy
    assert quote(TEST_PASSWORD, safe="") in revealed_copy
    assert AuditEvent.objects.filter(action="reveal", instance=portal.pg).count() == 1


def test_it_gives_viewers_no_way_to_the_password(page: Page, portal) -> None:
    sign_in(page, "charlie")
    page.goto(f"/instances/{portal.pg.name}/")
    expect(page.get_by_role("heading", name="Connection details")).to_be_visible()
    expect(page.get_by_role("button", name="Reveal password")).to_have_count(0)
    expect(page.locator("[data-copy-secret]")).to_have_count(0)
    assert TEST_PASSWORD not in page.content()
    token = page.locator("input[name=csrfmiddlewaretoken]").first.input_value()
    headers = {"X-CSRFToken": token, "Referer": page.url}
    for path in (f"/instances/{portal.pg.name}/reveal", f"/instances/{portal.pg.name}/copy"):
        response = page.request.post(path, headers=headers, form={"field": "password"})
        assert response.status == 403, path
        assert TEST_PASSWORD not in response.text()
    other_team = page.request.post("/instances/beta-db/reveal", headers=headers)
    assert other_team.status == 404
    assert AuditEvent.objects.filter(action__in=["reveal", "copy"]).count() == 0


def test_it_fits_a_375_pixel_wide_phone(new_context, portal) -> None:
    page = new_context(viewport={"width": 375, "height": 800}).new_page()
    sign_in(page, "bob")
    for path in ("/", f"/instances/{portal.pg.name}/", f"/instances/{portal.cache.name}/"):
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} scrolls sideways: {width}px"
    screenshot(page, "settings-phone")


def test_it_looks_right_in_dark_mode(new_context, portal) -> None:
    page = new_context(color_scheme="dark").new_page()
    sign_in(page, "alice")
    page.goto(f"/instances/{portal.pg.name}/")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background != "rgb(255, 255, 255)"
    screenshot(page, "settings-dark")


def test_it_reaches_every_control_by_keyboard_with_visible_focus(page: Page, portal) -> None:
    sign_in(page, "bob")
    page.goto(f"/instances/{portal.pg.name}/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    seen = set()
    for _ in range(100):
        page.keyboard.press("Tab")
        focus = page.evaluate(FOCUSED)
        if focus is None:  # past the last control
            break
        assert focus["outline"], f"no visible focus on {focus['label']!r}"
        seen.add(focus["label"])
    assert "Reveal password" in seen
    assert "Copy password (recorded in the audit log)" in seen


def test_it_has_no_serious_accessibility_problems(new_context, axe_script, portal) -> None:
    page = new_context(bypass_csp=True).new_page()
    sign_in(page, "alice")
    pages = [
        "/",
        f"/instances/{portal.pg.name}/",
        f"/instances/{portal.cache.name}/",
        f"/teams/{portal.alpha.pk}/onboarding/",
        "/account/password/",
        "/account/",
        "/account/totp/",
    ]
    problems = []
    for path in pages:
        page.goto(path)
        problems += [f"{path}: {p}" for p in serious_accessibility_violations(page, axe_script)]
    assert not problems, "\n".join(problems)
