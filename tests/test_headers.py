"""Security headers, cookies and sessions, login throttling and shared rate limits."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from html.parser import HTMLParser
from pathlib import Path

import redis
from axes.models import AccessAttempt
from django.conf import settings
from django.core.cache import cache
from django.test import Client, override_settings

from instances.views.checks import CHECK_RATE
from instances.views.secrets import SECRETS_RATE
from tests.base import BaseTestCase, freeze_rate_windows, make_instance
from tests.url_catalog import project_routes, sample_values

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
REDIS_URL = "redis://127.0.0.1:6379/0"


class InlineCodeFinder(HTMLParser):
    """Collects what a strict CSP blocks: inline scripts, styles and event handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "style":
            self.problems.append("<style> element")
        if tag == "script":
            self._in_script = True
            if "src" not in names:
                self.problems.append("<script> without src")
        for name, value in attrs:
            if name == "style":
                self.problems.append(f"style= on <{tag}>")
            if name.startswith("on"):
                self.problems.append(f"{name}= on <{tag}>")
            if name in {"href", "src", "action"} and (value or "").strip().startswith(
                "javascript:"
            ):
                self.problems.append(f"javascript: URL on <{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.problems.append("inline script code")


def inline_code(html: str) -> list[str]:
    finder = InlineCodeFinder()
    finder.feed(html)
    return finder.problems


TEMPLATE_RULES = {
    "inline <script> code": re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.I),
    "<style> element": re.compile(r"<style\b", re.I),
    "style= attribute": re.compile(r"\sstyle\s*=", re.I),
    "on*= handler": re.compile(r"\son[a-z]+\s*=", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}


def directives(header: str) -> dict[str, list[str]]:
    parts = (part.split() for part in header.split(";") if part.strip())
    return {part[0]: part[1:] for part in parts}


class HeaderTests(BaseTestCase):
    def setUp(self) -> None:
        cache.clear()

    def html_pages(self):
        """(what, response) for every HTML page a signed-in admin can open, and then some."""
        client = Client()
        yield "login", client.get("/login/")
        client.force_login(self.admin)
        values = sample_values(self.pg.name, self.alpha.pk, self.admin.pk)
        for route in project_routes():
            if route.route.startswith("admin/"):
                continue
            response = client.get(route.path(values))
            if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
                yield route.route, response
        yield "reveal", client.post(f"/instances/{self.pg.name}/reveal")
        yield "404", client.get("/no/such/page/")

    def test_it_has_no_inline_code_in_any_template(self) -> None:
        found = []
        for template in sorted(TEMPLATES.rglob("*.html")):
            text = template.read_text()
            for problem, rule in TEMPLATE_RULES.items():
                if rule.search(text):
                    found.append(f"{template.relative_to(ROOT)}: {problem}")
        self.assertFalse(found, "\n".join(found))

    def test_it_renders_pages_without_inline_code(self) -> None:
        seen, found = [], []
        for what, response in self.html_pages():
            seen.append(what)
            found += [f"{what}: {problem}" for problem in inline_code(response.content.decode())]
        self.assertIn("instances/<slug:name>/", seen)
        self.assertFalse(found, "\n".join(found))

    def test_it_sends_a_strict_content_security_policy(self) -> None:
        for what, response in self.html_pages():
            policy = directives(response["Content-Security-Policy"])
            self.assertEqual(policy["default-src"], ["'none'"], what)
            self.assertEqual(policy["script-src"], ["'self'"], what)
            self.assertEqual(policy["style-src"], ["'self'"], what)
            self.assertEqual(policy["frame-ancestors"], ["'none'"], what)
            self.assertEqual(policy["base-uri"], ["'none'"], what)
            self.assertEqual(policy["form-action"], ["'self'"], what)

    def test_it_forbids_framing_sniffing_and_cross_site_referrers(self) -> None:
        for what, response in self.html_pages():
            self.assertEqual(response["X-Frame-Options"], "DENY", what)
            self.assertEqual(response["X-Content-Type-Options"], "nosniff", what)
            self.assertEqual(response["Referrer-Policy"], "same-origin", what)
            self.assertEqual(response["Cross-Origin-Opener-Policy"], "same-origin", what)

    def test_it_tells_caches_to_store_no_page_or_secret(self) -> None:
        client = Client()
        client.force_login(self.member)
        responses = [response for _, response in self.html_pages()]
        responses.append(client.post(f"/instances/{self.pg.name}/copy", {"field": "password"}))
        responses.append(client.post(f"/teams/{self.alpha.pk}/onboarding/env"))
        for response in responses:
            self.assertIn(response.status_code, (200, 404), response.request["PATH_INFO"])
            self.assertIn("no-store", response["Cache-Control"], response.request["PATH_INFO"])

    def test_it_sends_hsts_on_https_outside_debug(self) -> None:
        self.assertFalse(settings.DEBUG)
        response = Client().get("/login/", secure=True)
        self.assertEqual(
            response["Strict-Transport-Security"], "max-age=31536000; includeSubDomains"
        )

    def test_it_sets_secure_http_only_same_site_cookies_outside_debug(self) -> None:
        client = Client()
        page = client.get("/login/", secure=True)
        self.assertTrue(page.cookies["csrftoken"]["secure"])
        self.assertEqual(page.cookies["csrftoken"]["samesite"], "Lax")
        response = client.post(
            "/login/", {"username": "alice", "password": "password"}, secure=True
        )
        self.assertEqual(response.status_code, 302)
        session = response.cookies[settings.SESSION_COOKIE_NAME]
        self.assertTrue(session["secure"])
        self.assertTrue(session["httponly"])
        self.assertEqual(session["samesite"], "Lax")
        self.assertEqual(session["max-age"], "", "a browser-session cookie")

    def test_it_ends_sessions_after_eight_hours_and_at_browser_close(self) -> None:
        client = Client()
        client.post("/login/", {"username": "alice", "password": "password"})
        self.assertEqual(client.session.get_expiry_age(), 8 * 3600)
        self.assertTrue(client.session.get_expire_at_browser_close())


class DeployCheckTests(BaseTestCase):
    def manage_check(self, **env: str) -> subprocess.CompletedProcess:
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("ZEKTOR_", "DJANGO_", "DATABASE_URL", "REDIS_URL"))
        }
        environment.update(
            ZEKTOR_SECRET_KEY="deploy-check-" + uuid.uuid4().hex + uuid.uuid4().hex,
            ZEKTOR_ENCRYPTION_KEYS="k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
            # Production runs on PostgreSQL; the check never connects.
            DATABASE_URL="postgres://zektor@db.invalid:5432/zektor",
            **env,
        )
        argv = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
        argv += ["--tag", "security"]
        return subprocess.run(
            argv, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
        )

    def test_it_passes_djangos_deploy_check_outside_debug(self) -> None:
        result = self.manage_check()
        self.assertEqual(result.returncode, 0, result.stderr + result.stdout)

    def test_it_fails_the_deploy_check_in_debug_mode(self) -> None:
        result = self.manage_check(ZEKTOR_DEBUG="true")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("DEBUG", result.stderr)


class SessionTests(BaseTestCase):
    def test_it_signs_out_every_other_session_on_password_change(self) -> None:
        laptop, phone = Client(), Client()
        for client in (laptop, phone):
            client.post("/login/", {"username": "bob", "password": "password"})
            self.assertEqual(client.get("/").status_code, 200)
        response = laptop.post(
            "/account/password/",
            {
                "old_password": "password",
                "new_password1": "a-much-longer-passphrase-42",
                "new_password2": "a-much-longer-passphrase-42",
            },
        )
        self.assertRedirects(response, "/account/password/done/")
        self.assertEqual(laptop.get("/").status_code, 200, "the changing session stays")
        self.assertRedirects(phone.get("/"), "/login/?next=/")

    def test_it_keeps_the_password_when_the_old_one_is_wrong(self) -> None:
        client = Client()
        client.force_login(self.member)
        response = client.post(
            "/account/password/",
            {"old_password": "nope", "new_password1": "x-y-z-123456", "new_password2": "x"},
        )
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, 'role="alert"')
        self.member.refresh_from_db()
        self.assertTrue(self.member.check_password("password"))


class LoginThrottleTests(BaseTestCase):
    def sign_in(self, client: Client, password: str, username: str = "bob"):
        return client.post("/login/", {"username": username, "password": password})

    def test_it_locks_out_the_sixth_attempt_even_with_the_right_password(self) -> None:
        client = Client()
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            self.assertEqual(self.sign_in(client, "wrong").status_code, 200)
        locked = self.sign_in(client, "wrong")
        self.assertEqual(locked.status_code, 429)
        self.assertTemplateUsed(locked, "registration/locked_out.html")
        right = self.sign_in(client, "password")
        self.assertEqual(right.status_code, 429)
        self.assertContains(right, "Too many failed sign-ins", status_code=429)
        self.assertNotIn("_auth_user_id", client.session)

    def test_it_stores_the_lockout_in_the_database_for_every_app_server(self) -> None:
        for _ in range(settings.AXES_FAILURE_LIMIT):
            self.sign_in(Client(), "wrong")
        attempt = AccessAttempt.objects.get(username="bob")
        self.assertEqual(attempt.failures_since_start, settings.AXES_FAILURE_LIMIT)
        self.assertEqual(self.sign_in(Client(), "password").status_code, 429)

    def test_it_locks_only_that_username(self) -> None:
        for _ in range(settings.AXES_FAILURE_LIMIT):
            self.sign_in(Client(), "wrong")
        self.assertEqual(self.sign_in(Client(), "password", username="alice").status_code, 302)


class SharedRateLimitTests(BaseTestCase):
    """Two Clients stand for two app servers; the counters live in the machine's Redis."""

    def setUp(self) -> None:
        self.prefix = f"zektor-test-{uuid.uuid4().hex}"
        caches = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": REDIS_URL,
                "KEY_PREFIX": self.prefix,
            }
        }
        override = override_settings(CACHES=caches)
        override.enable()
        self.addCleanup(override.disable)
        self.redis = redis.Redis.from_url(REDIS_URL)
        self.addCleanup(self.forget_keys)
        freeze_rate_windows(self)

    def forget_keys(self) -> None:
        keys = list(self.redis.scan_iter(f"{self.prefix}:*"))
        if keys:
            self.redis.delete(*keys)
        self.redis.close()

    def server(self) -> Client:
        client = Client()
        client.force_login(self.member)
        return client

    def test_it_shares_the_secrets_limit_between_app_servers(self) -> None:
        limit = int(SECRETS_RATE.split("/")[0])
        servers = (self.server(), self.server())
        copy_url = f"/instances/{self.pg.name}/copy"
        for n in range(limit):
            response = servers[n % 2].post(copy_url, {"field": "password"})
            self.assertEqual(response.status_code, 200, n)
        self.assertEqual(servers[0].post(copy_url, {"field": "password"}).status_code, 429)
        reveal = servers[1].post(f"/instances/{self.pg.name}/reveal")
        self.assertEqual(reveal.status_code, 429)
        self.assertTrue(list(self.redis.scan_iter(f"{self.prefix}:*")), "counters in Redis")

    def test_it_shares_the_connection_test_limit_between_app_servers(self) -> None:
        # An unspecified host: always refused, so the test fails at once, without traffic.
        make_instance(self.alpha, "local-pg", host="0.0.0.0", port=9)
        limit = int(CHECK_RATE.split("/")[0])
        servers = (self.server(), self.server())
        for n in range(limit):
            response = servers[n % 2].post("/instances/local-pg/test")
            self.assertEqual(response.status_code, 200, n)
            response.getvalue()  # runs the streamed check to its end
        self.assertEqual(servers[0].post("/instances/local-pg/test").status_code, 429)
        self.assertEqual(servers[1].post("/instances/local-pg/test").status_code, 429)
