"""Every URL of the project by every role: status codes, CSRF, secrets and error pages.

The routes come from the root resolver, so a new URL fails `test_it_knows_every_url` until
its expected answers are written down in `EXPECTED` below.
"""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import quote

import pytest
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import path
from django.utils.html import escape

from instances.models import AuditEvent, Rotation, RotationState
from tests.base import CA_PEM, TEST_PASSWORD, BaseTestCase
from tests.url_catalog import Route, project_routes, sample_values
from zektor_portal.urls import handler403, handler404, handler500
from zektor_portal.urls import urlpatterns as portal_urlpatterns

CSRF_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')
ROLES = ("anonymous", "viewer", "member", "outsider", "admin")
POST_DATA = {"field": "password"}


def _answers(anonymous: int, viewer: int, member: int, outsider: int, admin: int) -> dict:
    return dict(zip(ROLES, (anonymous, viewer, member, outsider, admin), strict=True))


def _everyone(status: int) -> dict:
    return _answers(status, status, status, status, status)


def _team_page() -> dict:
    """Sign-in first; every role of the team may look; other teams see nothing."""
    return _answers(302, 200, 200, 404, 200)


def _signed_in(status: int) -> dict:
    return _answers(302, status, status, status, status)


def _members_only() -> dict:
    return _answers(302, 403, 200, 404, 200)


def _admins_only(status: int) -> dict:
    return _answers(302, 403, 403, 404, status)


# route -> (answers to GET, answers to POST) by role. Instances and teams are Alpha's.
EXPECTED: dict[str, tuple[dict, dict]] = {
    "login/": (_answers(200, 302, 302, 302, 302), _answers(200, 302, 302, 302, 302)),
    "logout/": (_everyone(405), _everyone(302)),
    "account/password/": (_signed_in(200), _signed_in(200)),
    "account/password/done/": (_signed_in(200), _signed_in(405)),
    "healthz": (_everyone(200), _everyone(405)),
    "": (_signed_in(200), _signed_in(405)),
    "instances/<slug:name>/": (_team_page(), _signed_in(405)),
    "instances/<slug:name>/reveal": (_signed_in(405), _members_only()),
    "instances/<slug:name>/copy": (_signed_in(405), _members_only()),
    "instances/<slug:name>/test/": (_team_page(), _signed_in(405)),
    "instances/<slug:name>/test": (_signed_in(405), _members_only()),
    "instances/<slug:name>/rotate/": (_admins_only(200), _admins_only(302)),
    "instances/<slug:name>/rotations/progress.json": (_admins_only(200), _signed_in(405)),
    "instances/<slug:name>/rotations/<uuid:uid>/": (_admins_only(200), _signed_in(405)),
    "instances/<slug:name>/rotations/<uuid:uid>/resume": (_signed_in(405), _admins_only(302)),
    "instances/<slug:name>/rotations/<uuid:uid>/finish": (_signed_in(405), _admins_only(302)),
    "instances/<slug:name>/rotations/<uuid:uid>/undo": (_signed_in(405), _admins_only(302)),
    "instances/<slug:name>/rotations/<uuid:uid>/reveal": (_signed_in(405), _admins_only(302)),
    "teams/<int:team_id>/audit/": (_admins_only(200), _signed_in(405)),
    "teams/<int:team_id>/audit.csv": (_admins_only(200), _signed_in(405)),
    "instances/<slug:name>/activity/": (_team_page(), _signed_in(405)),
    "instances/<slug:name>/ca.pem": (_team_page(), _signed_in(405)),
    "teams/<int:team_id>/onboarding/": (_team_page(), _signed_in(405)),
    "teams/<int:team_id>/onboarding/env": (_signed_in(405), _members_only()),
    # Team administration (issue 14). POST_DATA is bad input for all of these: admins get
    # the page back with what to fix (400), or a refusal (the last admin is not removed).
    "teams/new/": (_answers(302, 403, 403, 403, 403), _answers(302, 403, 403, 403, 403)),
    "teams/<int:team_id>/members/": (_admins_only(200), _signed_in(405)),
    "teams/<int:team_id>/members/add": (_signed_in(405), _admins_only(400)),
    "teams/<int:team_id>/members/invite": (_signed_in(405), _admins_only(400)),
    "teams/<int:team_id>/members/<int:user_id>/": (_admins_only(200), _signed_in(405)),
    "teams/<int:team_id>/members/<int:user_id>/role": (_signed_in(405), _admins_only(400)),
    "teams/<int:team_id>/members/<int:user_id>/remove": (_admins_only(200), _admins_only(400)),
    "teams/<int:team_id>/invitations/<int:invitation_id>/withdraw": (
        _signed_in(405),
        _admins_only(404),  # there is no invitation 1
    ),
    "invitations/<str:token>/": (_everyone(404), _everyone(404)),
    "teams/<int:team_id>/instances/new/": (_admins_only(200), _admins_only(400)),
    "teams/<int:team_id>/instances/new/test": (_signed_in(405), _admins_only(400)),
    "instances/<slug:name>/edit/": (_admins_only(200), _admins_only(400)),
    "instances/<slug:name>/edit/test": (_signed_in(405), _admins_only(400)),
    "instances/<slug:name>/archive": (_signed_in(405), _admins_only(302)),
    "instances/<slug:name>/delete/": (_admins_only(200), _admins_only(400)),
    # Sign-in and account (accounts/): no sign-in is pending, so the code step starts over.
    "login/code/": (_everyone(302), _everyone(302)),
    "account/": (_signed_in(200), _signed_in(405)),
    "account/totp/": (_signed_in(200), _signed_in(200)),
    "account/totp/remove": (_signed_in(405), _signed_in(302)),
    "account/recovery-codes": (_signed_in(405), _signed_in(302)),
    "account/keys/": (_signed_in(200), _signed_in(200)),
    "account/keys/<int:key_id>/remove": (_signed_in(405), _signed_in(302)),
    "account/step-up": (_signed_in(405), _signed_in(400)),
    "account/step-up/continue": (_signed_in(302), _signed_in(405)),
    "teams/<int:team_id>/security": (_signed_in(405), _admins_only(302)),
    # allauth's OpenID Connect views: no provider is configured here (tests/test_sso.py).
    "accounts/oidc/^(?P<provider_id>[^/]+)/login/": (_everyone(404), _everyone(404)),
    "accounts/oidc/^(?P<provider_id>[^/]+)/login/callback/": (_everyone(404), _everyone(404)),
    "teams/<int:team_id>/alerts/": (_admins_only(200), _signed_in(405)),
    "teams/<int:team_id>/alerts/channels": (_signed_in(405), _admins_only(400)),
    "teams/<int:team_id>/alerts/channels/<uuid:uid>/remove": (_signed_in(405), _admins_only(404)),
    "teams/<int:team_id>/alerts/channels/<uuid:uid>/test": (_signed_in(405), _admins_only(404)),
    "teams/<int:team_id>/alerts/settings": (_signed_in(405), _admins_only(400)),
    "teams/<int:team_id>/tokens/": (_admins_only(200), _admins_only(400)),
    # There is no token 0: admins are told so (tests/test_api_tokens.py revokes real ones).
    "teams/<int:team_id>/tokens/<int:token_id>/revoke": (_signed_in(405), _admins_only(404)),
    # The HTTP API knows bearer tokens only (tests/test_api.py): a session gets 401.
    "api/v1/": (_everyone(404), _everyone(404)),
    "^api/": (_everyone(404), _everyone(404)),
    "api/v1/openapi.json": (_everyone(200), _everyone(405)),
    "api/v1/docs": (_everyone(200), _everyone(405)),
    "api/v1/instances": (_everyone(401), _everyone(405)),
    "api/v1/instances/<name>": (_everyone(401), _everyone(405)),
    "api/v1/instances/<name>/reveal": (_everyone(405), _everyone(401)),
    "api/v1/instances/<name>/snippets": (_everyone(401), _everyone(405)),
    "api/v1/instances/<name>/checks": (_everyone(401), _everyone(401)),
    "api/v1/instances/<name>/rotations": (_everyone(401), _everyone(401)),
    "api/v1/instances/<name>/rotations/<uid>": (_everyone(401), _everyone(405)),
}
API_PREFIX = "api/"

# Django's admin is for staff only (none of these users): it sends everyone to its login.
ADMIN_PREFIX = "admin/"
ADMIN_DEFAULT = (_everyone(302), _everyone(302))
ADMIN_EXCEPTIONS: dict[str, tuple[dict, dict]] = {
    "admin/login/": (_everyone(200), _everyone(200)),
}

# Responses that may hold the password: the audited reveal, copy and .env download.
SECRET_ROUTES = {
    "instances/<slug:name>/reveal",
    "instances/<slug:name>/copy",
    "teams/<int:team_id>/onboarding/env",
}


def roles_for(route: Route, roles: tuple[str, ...] = ROLES) -> tuple[str, ...]:
    """Django's admin treats every non-staff user alike: two roles stand for all there."""
    if route.route.startswith(ADMIN_PREFIX):
        return tuple(role for role in roles if role in ("anonymous", "admin"))
    return roles


def expected_for(route: Route) -> tuple[dict, dict]:
    if route.route.startswith(ADMIN_PREFIX):
        return ADMIN_EXCEPTIONS.get(route.route, ADMIN_DEFAULT)
    return EXPECTED[route.route]


def password_forms(password: str) -> set[str]:
    """The ways a password can appear in a response body."""
    return {
        password,
        escape(password),
        quote(password, safe=""),
        json.dumps(password)[1:-1],
        json.dumps(password, ensure_ascii=False)[1:-1],
    }


class SecurityTestCase(BaseTestCase):
    rotation: Rotation

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.pg.ca_cert = CA_PEM
        cls.pg.save()
        cls.rotation = Rotation(instance=cls.pg, actor=cls.admin, state=RotationState.DONE)
        cls.rotation.seal("pending_sealed", "old-rotation-new-password")
        cls.rotation.seal("old_sealed", "old-rotation-old-password")
        cls.rotation.save()

    def setUp(self) -> None:
        cache.clear()  # rate-limit counters start at zero

    def client_for(self, role: str, **options) -> Client:
        client = Client(**options)
        user = {
            "viewer": self.viewer,
            "member": self.member,
            "outsider": self.outsider,
            "admin": self.admin,
        }.get(role)
        if user is not None:
            client.force_login(user)
        return client

    def path_of(self, route: Route) -> str:
        values = sample_values(self.pg.name, self.alpha.pk, self.admin.pk, self.rotation.uid)
        return route.path(values)

    def request(self, role: str, method: str, route: Route, **options):
        client = self.client_for(role, **options)
        send = client.get if method == "GET" else client.post
        return send(self.path_of(route), POST_DATA if method == "POST" else None)


class RoleMatrixTests(SecurityTestCase):
    def test_it_knows_every_url(self) -> None:
        routes = {r.route for r in project_routes() if not r.route.startswith(ADMIN_PREFIX)}
        self.assertEqual(sorted(routes - EXPECTED.keys()), [], "new URLs: add them to EXPECTED")
        self.assertEqual(sorted(EXPECTED.keys() - routes), [], "EXPECTED names gone URLs")

    def test_it_answers_every_url_as_expected_for_every_role(self) -> None:
        wrong = []
        for route in project_routes():
            for method, expected in zip(("GET", "POST"), expected_for(route), strict=True):
                for role in roles_for(route):
                    cache.clear()
                    status = self.request(role, method, route).status_code
                    if status != expected[role]:
                        wrong.append(f"{method} /{route.route} as {role}: {status}")
        self.assertFalse(wrong, "unexpected answers:\n" + "\n".join(wrong))

    def test_it_rejects_posts_without_csrf_token_on_every_state_changing_view(self) -> None:
        accepted = []
        for route in project_routes():
            _, post = expected_for(route)
            if route.route.lstrip("^").startswith(API_PREFIX):
                continue  # bearer tokens only, no cookies: nothing for CSRF to protect
            for role in ("anonymous", "admin"):
                if post[role] == 405:
                    continue
                response = self.request(role, "POST", route, enforce_csrf_checks=True)
                if response.status_code != 403:
                    accepted.append(f"/{route.route} as {role}: {response.status_code}")
        self.assertFalse(accepted, "accepted without CSRF token:\n" + "\n".join(accepted))


class NoPasswordLeakTests(SecurityTestCase):
    @pytest.fixture(autouse=True)
    def _caplog(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.DEBUG)
        self.caplog = caplog

    def assert_no_password(self, text: str, where: str) -> None:
        for form in password_forms(TEST_PASSWORD):
            self.assertNotIn(form, text, where)

    def test_it_shows_no_password_to_roles_that_may_not_see_it(self) -> None:
        for route in project_routes():
            for role in roles_for(route, ("anonymous", "viewer", "outsider")):
                for method in ("GET", "POST"):
                    response = self.request(role, method, route)
                    body = b"".join(response) if response.streaming else response.content
                    self.assert_no_password(body.decode(errors="replace"), f"{method} {route}")

    def test_it_shows_no_password_on_plain_page_views_of_members_and_admins(self) -> None:
        for route in project_routes():
            if route.route in SECRET_ROUTES:
                continue
            for role in roles_for(route, ("member", "admin")):
                response = self.request(role, "GET", route)
                body = b"".join(response) if response.streaming else response.content
                self.assert_no_password(body.decode(errors="replace"), f"GET {route}")

    def test_it_hands_out_the_password_only_on_audited_requests(self) -> None:
        for route in project_routes():
            if route.route not in SECRET_ROUTES:
                continue
            before = AuditEvent.objects.count()
            response = self.request("member", "POST", route)
            self.assertEqual(response.status_code, 200, route.route)
            self.assertGreater(AuditEvent.objects.count(), before, route.route)

    def test_it_never_logs_or_audits_the_password(self) -> None:
        for route in project_routes():
            for role in roles_for(route):
                self.request(role, "POST", route)
        for record in self.caplog.records:
            self.assert_no_password(record.getMessage(), f"log record {record.name}")
        for event in AuditEvent.objects.all():
            self.assert_no_password(json.dumps(event.detail), f"audit event {event.action}")


def _boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("kaboom: internal detail /etc/zektor")


urlpatterns = [path("boom/", _boom), *portal_urlpatterns]
__all__ = ["handler403", "handler404", "handler500", "urlpatterns"]


@override_settings(DEBUG=False)
class ErrorPageTests(SecurityTestCase):
    def assert_portal_page(self, response, status: int) -> str:
        self.assertEqual(response.status_code, status)
        body = response.content.decode()
        self.assertIn("css/portal.css", body)
        self.assertIn("Back to your instances", body)
        for leak in ("Traceback", "kaboom", "/etc/zektor", "SECRET_KEY", "Django", 'File "'):
            self.assertNotIn(leak, body)
        return body

    def test_it_renders_its_own_404_page(self) -> None:
        response = self.client_for("viewer").get("/no/such/page/")
        self.assertTemplateUsed(response, "error.html")
        self.assert_portal_page(response, 404)

    def test_it_answers_other_teams_instances_with_the_same_404_as_missing_ones(self) -> None:
        other = self.client_for("viewer").get(f"/instances/{self.beta_pg.name}/")
        missing = self.client_for("viewer").get("/instances/no-such-instance/")
        self.assertEqual(
            CSRF_TOKEN.sub("", self.assert_portal_page(other, 404)),
            CSRF_TOKEN.sub("", self.assert_portal_page(missing, 404)),
        )

    def test_it_renders_its_own_403_page(self) -> None:
        response = self.client_for("viewer").post(f"/instances/{self.pg.name}/reveal")
        self.assertNotIn(TEST_PASSWORD, self.assert_portal_page(response, 403))

    @override_settings(ROOT_URLCONF="tests.test_security")
    def test_it_renders_its_own_500_page_without_details(self) -> None:
        client = self.client_for("admin", raise_request_exception=False)
        with self.assertLogs("django.request", level="ERROR"):
            response = client.get("/boom/")
        self.assert_portal_page(response, 500)
