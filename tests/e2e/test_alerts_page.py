"""The alerts page in a browser: keyboard only, screen-reader names, a 375 px phone."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from alerts.models import Channel
from tests.base import ALLOW_LOOPBACK
from tests.e2e.conftest import screenshot, serious_accessibility_violations, sign_in
from tests.receivers import HttpReceiver

pytestmark = pytest.mark.e2e


@pytest.fixture
def receiver(settings):
    settings.ZEKTOR_CHECK_DENY_NETWORKS = ALLOW_LOOPBACK
    receiver = HttpReceiver()
    yield receiver
    receiver.stop()


def test_an_admin_adds_a_webhook_and_sends_a_test_alert_by_keyboard(
    page: Page, portal, receiver
) -> None:
    sign_in(page, "alice")
    page.get_by_role("link", name="Alerts").click()
    expect(page.get_by_role("heading", name="Alerts", level=1)).to_be_visible()
    page.get_by_label("Kind").select_option("webhook")
    page.get_by_label("E-mail address or webhook URL").focus()
    page.keyboard.type(receiver.url("/hook"))
    page.keyboard.press("Enter")
    secret = page.get_by_role("textbox", name="Secret", exact=True).input_value()
    assert Channel.objects.get(team=portal.alpha).signing_secret == secret
    test_button = page.get_by_role(
        "button", name=f"Send a test alert to http://127.0.0.1:{receiver.port}/…"
    )
    test_button.focus()
    page.keyboard.press("Enter")
    expect(page.locator(".messages")).to_contain_text("Test alert sent")
    assert json.loads(receiver.requests[0].body)["event"] == "test"
    assert secret not in page.content()
    screenshot(page, "alerts")


def test_the_alerts_page_fits_a_phone(new_context, portal) -> None:
    Channel.objects.create(
        team=portal.alpha,
        kind="email",
        email="a-rather-long-address@alpha.example",
        label="a-rather-long-address@alpha.example",
    )
    page = new_context(viewport={"width": 375, "height": 800}).new_page()
    sign_in(page, "alice")
    page.goto(f"/teams/{portal.alpha.pk}/alerts/")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the alerts page scrolls sideways: {width}px"
    screenshot(page, "alerts-phone")


def test_the_alerts_page_has_no_serious_accessibility_problems(
    new_context, axe_script, portal
) -> None:
    page = new_context(bypass_csp=True).new_page()  # only to inject axe-core
    sign_in(page, "alice")
    page.goto(f"/teams/{portal.alpha.pk}/alerts/")
    assert serious_accessibility_violations(page, axe_script) == []
