"""A team admin runs the team in the browser: adds an instance against the suite's real TLS
PostgreSQL (tested before and after saving), edits its host, invites, demotes and removes a
member, sees what they revealed and rotates it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from instances.models import AuditEvent, Instance, Membership
from tests.base import instance_on
from tests.e2e.conftest import (
    USER_PASSWORD,
    screenshot,
    serious_accessibility_violations,
    sign_in,
)
from tests.e2e.test_browse import FOCUSED

pytestmark = [pytest.mark.e2e]


def fill_instance_form(page: Page, server) -> None:
    page.locator("#id_name").fill("shop-db")
    page.get_by_label("Engine").select_option("postgresql")
    page.get_by_label("Tier").select_option("standard")  # the test server's limits
    page.get_by_label("Host").fill(server.host)
    page.get_by_label("Port").fill(str(server.port))
    page.locator("#id_username").fill(server.username)
    page.locator("#id_new_password").fill(server.password)
    page.get_by_label("Database").fill(server.database)
    page.get_by_label("TLS mode").select_option("verify-full")
    page.get_by_label("CA certificate (PEM)").fill(server.ca_pem)


@pytest.mark.servers
def test_it_adds_an_instance_tested_before_and_after_saving_then_edits_its_host(
    page: Page, portal, pg_tls, loopback_allowed
) -> None:
    sign_in(page, "alice")
    page.get_by_role("link", name="Add an instance").click()
    fill_instance_form(page, pg_tls)
    page.get_by_role("button", name="Test these settings").click()
    summary = page.locator("[data-check-summary]")
    expect(summary).to_contain_text("OK in", timeout=15_000)
    expect(page.locator("[data-step=tls]")).to_have_attribute("data-status", "ok")
    screenshot(page, "instance-add-tested")
    assert not Instance.objects.filter(name="shop-db").exists()  # the test saved nothing

    page.get_by_role("button", name="Add instance").click()
    expect(page.get_by_role("heading", name="shop-db")).to_be_visible()
    page.get_by_role("link", name="Connection test").click()
    page.get_by_role("button", name="Run test").click()
    expect(page.locator("[data-check-summary]")).to_contain_text("OK", timeout=15_000)
    assert Instance.objects.get(name="shop-db").checks.get().status == "ok"

    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Host").fill("127.0.0.1")
    page.get_by_role("button", name="Save changes").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("needs the password")
    expect(page.locator("#id_new_password")).to_have_attribute("aria-invalid", "true")
    page.locator("#id_new_password").fill(pg_tls.password)
    page.get_by_label("TLS mode").select_option("verify-ca")  # the certificate names localhost
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("The changes to shop-db were saved.")).to_be_visible()
    assert Instance.objects.get(name="shop-db").host == "127.0.0.1"
    assert AuditEvent.objects.filter(action="instance_changed", instance_name="shop-db").exists()


def test_it_invites_a_user_who_accepts_and_lands_on_the_teams_instances(
    new_context, portal
) -> None:
    admin = new_context().new_page()
    sign_in(admin, "alice")
    admin.goto(f"/teams/{portal.alpha.pk}/members/")
    admin.locator("#id_invite-role").select_option("viewer")
    admin.get_by_role("button", name="Create invitation link").click()
    link = admin.locator("#invitation-link").inner_text()
    screenshot(admin, "members-invited")

    invitee = new_context().new_page()
    invitee.goto(link)
    expect(invitee.get_by_role("heading", name="Join Alpha")).to_be_visible()
    invitee.locator("#id_username").fill("dora")
    invitee.locator("#id_password1").fill(USER_PASSWORD)
    invitee.locator("#id_password2").fill(USER_PASSWORD)
    invitee.get_by_role("button", name="Create account and join").click()
    expect(invitee.get_by_text("Welcome to Alpha")).to_be_visible()
    expect(invitee.get_by_role("link", name=portal.pg.name)).to_be_visible()
    assert Membership.objects.get(user__username="dora").role == "viewer"
    invitee.goto(link)
    expect(invitee.get_by_text("already used")).to_be_visible()


@pytest.mark.servers
def test_it_demotes_and_removes_a_member_then_rotates_what_they_revealed(
    new_context, portal, fresh_pg, loopback_allowed
) -> None:
    instance = instance_on(fresh_pg, portal.alpha, "payments-db")
    bob = new_context().new_page()
    sign_in(bob, "bob")
    bob.goto(f"/instances/{instance.name}/")
    bob.get_by_role("button", name="Reveal password").click()
    expect(bob.locator("#field-password")).to_have_text(fresh_pg.password)

    admin = new_context().new_page()
    sign_in(admin, "alice")
    admin.goto(f"/teams/{portal.alpha.pk}/members/")
    admin.get_by_role("link", name="bob").click()
    admin.get_by_label("Role of bob in Alpha").select_option("viewer")
    admin.get_by_role("button", name="Change role").click()
    expect(admin.get_by_text("bob is now viewer.")).to_be_visible()

    admin.get_by_role("link", name="Remove from Alpha…").click()
    row = admin.get_by_role("row", name=instance.name)
    expect(row).to_contain_text("Revealed")
    admin.get_by_role("button", name="Remove bob").click()
    expect(admin.get_by_text("bob was removed from Alpha")).to_be_visible()
    bob.goto(f"/instances/{instance.name}/")
    expect(bob.get_by_role("heading", name="404")).to_be_visible()

    row = admin.get_by_role("row", name=instance.name)
    expect(row).to_contain_text("Seen since its last change")
    screenshot(admin, "offboarding")
    row.get_by_role("link", name=f"Rotate the password of {instance.name}").click()
    admin.get_by_role("button", name="Rotate password now").click()
    expect(admin.locator(".badge.rotation-done")).to_be_visible(timeout=20_000)
    user_id = User.objects.get(username="bob").pk
    admin.goto(f"/teams/{portal.alpha.pk}/members/{user_id}/")
    row = admin.get_by_role("row", name=instance.name)
    expect(row).to_contain_text("Rotated")
    expect(row.get_by_role("link", name="Rotate")).to_have_count(0)


def test_it_shows_viewers_and_members_none_of_the_controls(new_context, portal) -> None:
    for username in ("charlie", "bob"):
        page = new_context().new_page()
        sign_in(page, username)
        expect(page.get_by_role("link", name="Add an instance")).to_have_count(0)
        expect(page.get_by_role("link", name="Members")).to_have_count(0)
        page.goto(f"/instances/{portal.pg.name}/")
        expect(page.get_by_role("link", name="Edit")).to_have_count(0)
        response = page.goto(f"/teams/{portal.alpha.pk}/members/")
        assert response is not None and response.status == 403


def test_it_fits_a_375_pixel_wide_phone(new_context, portal) -> None:
    page = new_context(viewport={"width": 375, "height": 800}).new_page()
    sign_in(page, "alice")
    bob = User.objects.get(username="bob")
    for path in (
        f"/teams/{portal.alpha.pk}/members/",
        f"/teams/{portal.alpha.pk}/members/{bob.pk}/",
        f"/teams/{portal.alpha.pk}/instances/new/",
        f"/instances/{portal.pg.name}/edit/",
    ):
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} scrolls sideways: {width}px"
    screenshot(page, "instance-edit-phone")


def test_it_has_no_serious_accessibility_problems(new_context, axe_script, portal) -> None:
    User.objects.create_superuser("root", password=USER_PASSWORD)
    root = new_context(bypass_csp=True).new_page()
    sign_in(root, "root")
    root.goto("/teams/new/")
    problems = [f"/teams/new/: {p}" for p in serious_accessibility_violations(root, axe_script)]
    page = new_context(bypass_csp=True).new_page()
    sign_in(page, "alice")
    bob = User.objects.get(username="bob")
    team = f"/teams/{portal.alpha.pk}"
    pages = [
        f"{team}/members/",
        f"{team}/members/{bob.pk}/",
        f"{team}/members/{bob.pk}/remove",
        f"{team}/instances/new/",
        f"/instances/{portal.pg.name}/edit/",
        f"/instances/{portal.pg.name}/delete/",
    ]
    for path in pages:
        page.goto(path)
        problems += [f"{path}: {p}" for p in serious_accessibility_violations(page, axe_script)]
    # The form with its inline errors, and the invitation page a new person sees.
    page.goto(f"{team}/instances/new/")
    page.get_by_role("button", name="Add instance").click()
    expect(page.get_by_role("alert")).to_be_visible()
    problems += [f"errors: {p}" for p in serious_accessibility_violations(page, axe_script)]
    page.goto(f"{team}/members/")
    page.get_by_role("button", name="Create invitation link").click()
    link = page.locator("#invitation-link").inner_text()
    problems += [f"invited: {p}" for p in serious_accessibility_violations(page, axe_script)]
    page.get_by_role("button", name="Sign out").click()
    page.goto(link)
    problems += [f"invitation: {p}" for p in serious_accessibility_violations(page, axe_script)]
    assert not problems, "\n".join(problems)


def test_it_runs_the_members_page_by_keyboard_with_visible_focus(page: Page, portal) -> None:
    sign_in(page, "alice")
    page.goto(f"/teams/{portal.alpha.pk}/members/")
    seen = set()
    for _ in range(60):
        page.keyboard.press("Tab")
        focus = page.evaluate(FOCUSED)
        if focus is None:
            break
        assert focus["outline"], f"no visible focus on {focus['label']!r}"
        seen.add(focus["label"])
    assert {"bob", "Add member", "Create invitation link"} <= seen
    page.locator("#id_add-username").focus()
    page.keyboard.type("bea")
    page.keyboard.press("Enter")  # submits the form it is in
    expect(page.get_by_text("bea is now member of Alpha.")).to_be_visible()
