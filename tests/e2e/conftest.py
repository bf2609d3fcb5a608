"""Browser tests: Debian's chromium driven by Playwright against pytest-django's live_server.

Pages are watched for CSP violations and script errors (any one fails the test); axe-core
(from npm, see package.json here) checks accessibility in a separate context that bypasses
CSP only to inject it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright

from instances.models import Engine, Instance, Membership, Role, Team
from tests.base import make_instance
from tests.npm import npm_ci
from tests.servers import unavailable

# Playwright's sync API runs an event loop in this thread; the ORM calls here are still sync.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

E2E_DIR = Path(__file__).resolve().parent
ROOT = E2E_DIR.parent.parent
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
AXE_SCRIPT = E2E_DIR / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
USER_PASSWORD = "correct-horse-battery-staple"
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (install it with `make system-deps-test`)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def axe_script() -> Path:
    npm_ci(E2E_DIR, "axe-core")
    return AXE_SCRIPT


@dataclass
class BrowserProblems:
    """What the browser complained about: CSP violations and uncaught script errors."""

    messages: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.messages.append(f"CSP: {message.text}")

    def on_page_error(self, error: Exception) -> None:
        self.messages.append(f"script error: {error}")


@pytest.fixture
def problems() -> Iterator[BrowserProblems]:
    found = BrowserProblems()
    yield found
    assert not found.messages, "\n".join(found.messages)


@pytest.fixture
def new_context(
    browser: Browser, live_server, problems: BrowserProblems
) -> Iterator[Callable[..., BrowserContext]]:
    """Opens contexts on the live server (clipboard allowed) whose pages report problems."""
    contexts: list[BrowserContext] = []

    def open_context(**options) -> BrowserContext:
        options.setdefault("viewport", DESKTOP)
        context = browser.new_context(
            base_url=live_server.url, permissions=["clipboard-read", "clipboard-write"], **options
        )
        context.set_default_timeout(10_000)
        context.on("console", problems.on_console)
        context.on("weberror", lambda web_error: problems.on_page_error(web_error.error))
        contexts.append(context)
        return context

    yield open_context
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_context) -> Page:
    return new_context().new_page()


@dataclass(frozen=True)
class Portal:
    alpha: Team
    beta: Team
    pg: Instance
    cache: Instance


@pytest.fixture
def portal(transactional_db) -> Portal:
    """Team Alpha (alice admin, bob member, charlie viewer), Beta (bea admin); instances."""
    alpha, beta = Team.objects.create(name="Alpha"), Team.objects.create(name="Beta")
    for username, team, role in (
        ("alice", alpha, Role.ADMIN),
        ("bob", alpha, Role.MEMBER),
        ("charlie", alpha, Role.VIEWER),
        ("bea", beta, Role.ADMIN),
    ):
        user = User.objects.create_user(username, password=USER_PASSWORD)
        Membership.objects.create(user=user, team=team, role=role)
    pg = make_instance(alpha, "orders-db", host="orders.db.zektor.example", tier="pro")
    cache = make_instance(alpha, "sessions-cache", Engine.VALKEY, host="cache.zektor.example")
    make_instance(beta, "beta-db")
    return Portal(alpha, beta, pg, cache)


@pytest.fixture
def loopback_allowed(settings) -> None:
    """The suite's servers listen on 127.0.0.1, which the default deny list blocks."""
    settings.ZEKTOR_CHECK_DENY_NETWORKS = []
    settings.ZEKTOR_CHECK_TIMEOUT = 5.0


def sign_in(page: Page, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(USER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def serious_accessibility_violations(page: Page, axe: Path) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now."""
    page.add_script_tag(path=str(axe))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + ", ".join(str(node["target"]) for node in violation["nodes"][:3])
        for violation in result["violations"]
        if violation["impact"] in {"serious", "critical"}
    ]
