"""Against real TLS servers: the connection test streams its steps; an admin rotates a password."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from instances.models import AuditEvent, Instance
from tests.base import instance_on, make_instance, stored_password
from tests.e2e.conftest import screenshot, serious_accessibility_violations, sign_in
from tests.rotation_support import logs_in

pytestmark = [pytest.mark.e2e, pytest.mark.servers]


def test_it_streams_a_passing_connection_test(page: Page, portal, pg_tls, loopback_allowed) -> None:
    instance = instance_on(pg_tls, portal.alpha, "live-pg")
    sign_in(page, "bob")
    page.goto(f"/instances/{instance.name}/test/")
    page.get_by_role("button", name="Run test").click()
    summary = page.locator("[data-check-summary]")
    expect(summary).to_contain_text("OK", timeout=15_000)
    for step in ("resolve", "tcp", "tls", "auth", "query"):
        expect(page.locator(f"[data-step={step}]")).to_have_attribute("data-status", "ok")
    expect(page.locator("[data-step=tls] [data-step-status]")).to_contain_text("OK")
    expect(page.get_by_role("heading", name="TLS")).to_be_visible()
    screenshot(page, "connection-test")
    assert instance.checks.get().status == "ok"


def test_it_shows_the_hint_of_a_failing_test(
    page: Page, portal, closed_port: int, loopback_allowed
) -> None:
    instance = instance_on_closed_port(portal, closed_port)
    sign_in(page, "bob")
    page.goto(f"/instances/{instance.name}/test/")
    page.get_by_role("button", name="Run test").click()
    tcp = page.locator("[data-step=tcp]")
    expect(tcp).to_have_attribute("data-status", "fail", timeout=15_000)
    expect(tcp.locator("[data-step-status]")).to_contain_text("Failed")
    expect(tcp.locator("[data-step-hint]")).to_be_visible()
    expect(page.locator("[data-step=auth]")).to_have_attribute("data-status", "skipped")
    expect(page.locator("[data-check-summary]")).to_contain_text("Failed")
    screenshot(page, "connection-test-failed")


def instance_on_closed_port(portal, port: int) -> Instance:
    return make_instance(portal.alpha, "closed-pg", host="127.0.0.1", port=port)


def test_it_rotates_a_password_that_then_logs_in(
    page: Page, portal, fresh_pg, loopback_allowed
) -> None:
    instance = instance_on(fresh_pg, portal.alpha, "rotating-pg")
    old_password = stored_password(instance)
    sign_in(page, "alice")
    page.goto(f"/instances/{instance.name}/")
    page.get_by_role("link", name="Rotate password").click()
    expect(
        page.get_by_role("heading", name=f"Rotate the password of {instance.name}")
    ).to_be_visible()
    page.get_by_role("button", name="Rotate password now").click()
    expect(page.get_by_role("heading", name="Password rotation")).to_be_visible(timeout=20_000)
    expect(page.locator(".badge.rotation-done")).to_be_visible()
    page.get_by_role("button", name="Show the new password").click()
    new_password = page.locator("#rotated-password").inner_text()
    screenshot(page, "rotation-done")

    instance.refresh_from_db()
    assert new_password == stored_password(instance) != old_password
    assert logs_in(fresh_pg, new_password)
    assert not logs_in(fresh_pg, old_password)
    assert AuditEvent.objects.filter(action="rotation_reveal", instance=instance).exists()
    page.reload()
    expect(page.get_by_role("button", name="Show the new password")).to_have_count(0)


def test_it_has_no_serious_accessibility_problems_on_test_and_audit_pages(
    new_context, axe_script, portal, closed_port: int, loopback_allowed
) -> None:
    instance = instance_on_closed_port(portal, closed_port)
    page = new_context(bypass_csp=True).new_page()
    sign_in(page, "alice")
    page.goto(f"/instances/{instance.name}/test/")
    page.get_by_role("button", name="Run test").click()
    expect(page.locator("[data-step=tcp]")).to_have_attribute("data-status", "fail")
    problems = [f"test: {p}" for p in serious_accessibility_violations(page, axe_script)]
    for path in (
        f"/instances/{instance.name}/activity/",
        f"/instances/{instance.name}/rotate/",
        f"/teams/{portal.alpha.pk}/audit/",
    ):
        page.goto(path)
        problems += [f"{path}: {p}" for p in serious_accessibility_violations(page, axe_script)]
    screenshot(page, "audit-log")
    assert not problems, "\n".join(problems)
