"""The HTTP API: every endpoint by scope and team, bad tokens, throttling, audit records,
and no password in any answer but the audited reveal."""

from __future__ import annotations

import json
from unittest import mock
from urllib.parse import quote

from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from api import tokens
from api.models import ApiToken, Scope
from instances.models import AuditEvent, CheckRun, Instance, Rotation, RotationState
from instances.views.checks import CHECK_RATE
from instances.views.secrets import SECRETS_RATE
from tests.api_support import ALL_SCOPES, call, make_token
from tests.base import TEST_PASSWORD, BaseTestCase, freeze_rate_windows
from tests.leaks import leaked_forms, seal_under_missing_key

# A host in a network the portal never connects to: tests and rotations run through
# their steps, refused before any packet leaves.
REFUSED_HOST = "169.254.10.10"


def limit_of(rate: str) -> int:
    return int(rate.split("/")[0])


class ApiTestCase(BaseTestCase):
    rotation: Rotation
    beta_rotation: Rotation

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        Instance.objects.update(host=REFUSED_HOST)
        cls.pg.refresh_from_db()
        cls.rotation = Rotation.objects.create(
            instance=cls.pg, state=RotationState.DONE, pending_sealed="", old_sealed=""
        )
        cls.beta_rotation = Rotation.objects.create(
            instance=cls.beta_pg, state=RotationState.DONE, pending_sealed="", old_sealed=""
        )

    def setUp(self) -> None:
        cache.clear()  # rate-limit counters start at zero

    def endpoints(self, name: str, rotation: Rotation) -> list[tuple[str, str, str, int]]:
        """(method, path, scope, success status) of every endpoint for instance `name`."""
        base = f"/api/v1/instances/{name}"
        return [
            ("GET", base, Scope.SETTINGS, 200),
            ("POST", f"{base}/reveal", Scope.REVEAL, 200),
            ("GET", f"{base}/snippets", Scope.SETTINGS, 200),
            ("GET", f"{base}/snippets?language=psql", Scope.SETTINGS, 200),
            ("POST", f"{base}/checks", Scope.TEST, 200),
            ("GET", f"{base}/checks", Scope.SETTINGS, 200),
            ("GET", f"{base}/rotations", Scope.ROTATE, 200),
            ("GET", f"{base}/rotations/{rotation.uid}", Scope.ROTATE, 200),
        ]

    def every_call(self) -> list[tuple[str, str, str, int]]:
        return [
            ("GET", "/api/v1/instances", Scope.SETTINGS, 200),
            *self.endpoints(self.pg.name, self.rotation),
        ]


class ScopeAndTeamTests(ApiTestCase):
    def test_it_answers_each_endpoint_with_its_scope(self) -> None:
        _, token = make_token(self.alpha)
        for method, path, _, status in self.every_call():
            cache.clear()
            response = call(method, path, token)
            self.assertEqual(response.status_code, status, f"{method} {path}: {response.content}")

    def test_it_refuses_every_endpoint_without_its_scope_with_403(self) -> None:
        for scope in ALL_SCOPES:
            _, token = make_token(self.alpha, [s for s in ALL_SCOPES if s != scope])
            for method, path, needed, _ in self.every_call():
                if needed != scope:
                    continue
                response = call(method, path, token)
                self.assertEqual(response.status_code, 403, f"{method} {path} without {scope}")
                self.assertEqual(response.json()["error"], "insufficient_scope")
                self.assertIn(scope, response.json()["detail"])
                event = AuditEvent.objects.filter(action="api_request").latest("id")
                self.assertEqual((event.outcome, event.detail["scope"]), ("refused", scope))

    def test_it_never_reaches_another_teams_instance(self) -> None:
        _, token = make_token(self.alpha)
        for method, path, _, _ in self.endpoints(self.beta_pg.name, self.beta_rotation):
            response = call(method, path, token)
            self.assertEqual(response.status_code, 404, f"{method} {path}")
            self.assertEqual(response.json()["error"], "not_found")
        self.assertFalse(CheckRun.objects.filter(instance=self.beta_pg).exists())
        self.assertFalse(AuditEvent.objects.filter(instance=self.beta_pg).exists())
        self.assertFalse(AuditEvent.objects.filter(team=self.beta).exists())
        refusals = AuditEvent.objects.filter(action="api_request", team=self.alpha)
        self.assertEqual(
            {(e.outcome, e.detail["reason"], e.detail["name"]) for e in refusals},
            {("refused", "not_found", self.beta_pg.name)},
        )

    def test_it_answers_another_teams_instance_like_a_missing_one(self) -> None:
        _, token = make_token(self.alpha)
        other = call("GET", f"/api/v1/instances/{self.beta_pg.name}", token)
        missing = call("GET", "/api/v1/instances/no-such-instance", token)
        self.assertEqual(other.json(), missing.json())

    def test_it_finds_a_rotation_only_on_its_own_instance(self) -> None:
        _, token = make_token(self.alpha)
        path = f"/api/v1/instances/{self.pg.name}/rotations/{self.beta_rotation.uid}"
        self.assertEqual(call("GET", path, token).status_code, 404)

    def test_it_lists_only_the_tokens_team(self) -> None:
        _, token = make_token(self.beta)
        names = [item["name"] for item in call("GET", "/api/v1/instances", token).json()]
        self.assertEqual(names, [self.beta_pg.name])

    def test_it_refuses_a_snippet_language_the_engine_lacks(self) -> None:
        _, token = make_token(self.alpha)
        path = f"/api/v1/instances/{self.cache.name}/snippets?language=psql"
        response = call("GET", path, token)
        self.assertEqual(response.status_code, 422)
        self.assertIn("valkey-cli", response.json()["detail"])


class TokenTests(ApiTestCase):
    def assert_refused(self, token: str | None, error: str) -> None:
        for method, path, _, _ in self.every_call():
            response = call(method, path, token)
            self.assertEqual(response.status_code, 401, f"{method} {path}")
            self.assertEqual(response.json()["error"], error)
            self.assertIn("Bearer", response["WWW-Authenticate"])

    def test_it_refuses_calls_without_a_token(self) -> None:
        self.assert_refused(None, "unauthorized")

    def test_it_refuses_unknown_and_malformed_tokens(self) -> None:
        _, token = make_token(self.alpha)
        self.assert_refused(token[:-2] + "xx", "invalid_token")
        self.assert_refused("not-a-token", "invalid_token")

    def test_it_refuses_an_expired_token(self) -> None:
        stored, token = make_token(self.alpha)
        ApiToken.objects.filter(pk=stored.pk).update(expires_at=timezone.now())
        self.assert_refused(token, "invalid_token")
        self.assertIn("expired", call("GET", "/api/v1/instances", token).json()["detail"])

    def test_it_refuses_a_revoked_token(self) -> None:
        stored, token = make_token(self.alpha)
        self.assertEqual(call("GET", "/api/v1/instances", token).status_code, 200)
        tokens.revoke(stored)
        self.assert_refused(token, "invalid_token")

    def test_it_records_the_refusal_of_a_known_token(self) -> None:
        stored, token = make_token(self.alpha, name="old-ci")
        tokens.revoke(stored)
        call("GET", "/api/v1/instances", token)
        event = AuditEvent.objects.get(action="api_request")
        self.assertEqual((event.actor_name, event.outcome), ("token:old-ci", "refused"))
        self.assertEqual(event.team, self.alpha)

    def test_it_ignores_a_signed_in_session(self) -> None:
        client = Client()
        client.force_login(self.admin)
        self.assertEqual(call("GET", "/api/v1/instances", client=client).status_code, 401)
        _, token = make_token(self.alpha, [Scope.REVEAL], name="ci")
        call("POST", f"/api/v1/instances/{self.pg.name}/reveal", token, client=client)
        event = AuditEvent.objects.get(action="reveal")
        self.assertIsNone(event.actor)
        self.assertEqual(event.actor_name, "token:ci")

    def test_it_needs_no_csrf_token(self) -> None:
        _, token = make_token(self.alpha)
        client = Client(enforce_csrf_checks=True)
        path = f"/api/v1/instances/{self.pg.name}/reveal"
        self.assertEqual(call("POST", path, token, client=client).status_code, 200)

    def test_it_stores_only_a_digest_and_records_the_last_use(self) -> None:
        stored, token = make_token(self.alpha)
        self.assertIsNone(stored.last_used_at)
        self.assertNotIn(token, json.dumps(list(ApiToken.objects.values()), default=str))
        self.assertEqual(stored.digest, tokens.digest_of(token))
        call("GET", "/api/v1/instances", token)
        stored.refresh_from_db()
        self.assertIsNotNone(stored.last_used_at)


class ThrottleTests(ApiTestCase):
    def setUp(self) -> None:
        super().setUp()
        freeze_rate_windows(self)

    def test_it_throttles_reveals_like_a_persons(self) -> None:
        _, token = make_token(self.alpha)
        path = f"/api/v1/instances/{self.pg.name}/reveal"
        for _ in range(limit_of(SECRETS_RATE)):
            self.assertEqual(call("POST", path, token).status_code, 200)
        response = call("POST", path, token)
        self.assertEqual(response.status_code, 429)
        self.assertEqual(response.json()["error"], "throttled")
        self.assertEqual(response["Retry-After"], "60")
        reveals = AuditEvent.objects.filter(action="reveal").count()
        self.assertEqual(reveals, limit_of(SECRETS_RATE))  # the refused one opened nothing

    def test_it_throttles_tests_like_the_web_test(self) -> None:
        _, token = make_token(self.alpha)
        path = f"/api/v1/instances/{self.pg.name}/checks"
        for _ in range(limit_of(CHECK_RATE)):
            self.assertEqual(call("POST", path, token).status_code, 200)
        self.assertEqual(call("POST", path, token).status_code, 429)
        self.assertEqual(CheckRun.objects.count(), limit_of(CHECK_RATE))

    def test_it_limits_each_token_separately(self) -> None:
        _, first = make_token(self.alpha, name="first")
        _, second = make_token(self.alpha, name="second")
        with mock.patch("api.access.API_RATE", "2/m"):
            for _ in range(2):
                call("GET", "/api/v1/instances", first)
            self.assertEqual(call("GET", "/api/v1/instances", first).status_code, 429)
            self.assertEqual(call("GET", "/api/v1/instances", second).status_code, 200)


class AuditTests(ApiTestCase):
    def test_it_audits_a_reveal_as_the_token(self) -> None:
        stored, token = make_token(self.alpha, [Scope.REVEAL], name="deploy")
        response = call("POST", f"/api/v1/instances/{self.pg.name}/reveal", token)
        self.assertEqual(response.json()["password"], TEST_PASSWORD)
        self.assertIn(quote(TEST_PASSWORD, safe=""), response.json()["uri"])
        event = AuditEvent.objects.get(action="reveal")
        self.assertEqual(event.actor_name, "token:deploy")
        self.assertEqual(event.detail["token_id"], stored.pk)
        self.assertEqual(event.detail["via"], "api")
        self.assertEqual(event.instance, self.pg)

    def test_it_audits_reads_as_the_token(self) -> None:
        _, token = make_token(self.alpha, [Scope.SETTINGS], name="dash")
        call("GET", "/api/v1/instances", token)
        call("GET", f"/api/v1/instances/{self.pg.name}/snippets", token)
        events = AuditEvent.objects.filter(action="api_read").order_by("id")
        self.assertEqual([e.detail["endpoint"] for e in events], ["instances", "snippets"])
        self.assertEqual({e.actor_name for e in events}, {"token:dash"})
        self.assertEqual(events[1].instance, self.pg)

    def test_it_stores_and_audits_a_test_like_a_web_run(self) -> None:
        _, token = make_token(self.alpha, [Scope.TEST, Scope.SETTINGS], name="health")
        report = call("POST", f"/api/v1/instances/{self.pg.name}/checks", token).json()
        self.assertEqual(report["status"], "fail")  # the host is in a refused network
        self.assertEqual(report["steps"][0]["name"], "resolve")
        run = CheckRun.objects.get(instance=self.pg)
        self.assertEqual((run.result, run.actor, run.actor_name), (report, None, "token:health"))
        event = AuditEvent.objects.get(action="connection_test")
        self.assertEqual((event.actor_name, event.detail["check_run"]), ("token:health", run.pk))
        stored = call("GET", f"/api/v1/instances/{self.pg.name}/checks", token).json()
        self.assertEqual([(s["id"], s["report"]) for s in stored], [(run.pk, report)])
        browser = Client()
        browser.force_login(self.member)
        activity = browser.get(f"/instances/{self.pg.name}/activity/").content.decode()
        self.assertIn("token:health", activity)

    def test_it_starts_a_rotation_with_the_machine_as_the_token(self) -> None:
        _, token = make_token(self.alpha, [Scope.ROTATE], name="cron")
        Rotation.objects.all().delete()
        response = call("POST", f"/api/v1/instances/{self.pg.name}/rotations", token)
        self.assertEqual(response.status_code, 201)
        body = response.json()
        # The server is unreachable: the machine stops safely and says what to do.
        self.assertEqual(body["state"], RotationState.NEEDS_ATTENTION)
        self.assertEqual(body["steps"][0]["action"], "rotation_started")
        rotation = Rotation.objects.get(uid=body["rotation"])
        events = AuditEvent.objects.filter(detail__rotation=str(rotation.uid))
        self.assertEqual({e.actor_name for e in events}, {"token:cron"})
        path = f"/api/v1/instances/{self.pg.name}/rotations/{rotation.uid}"
        self.assertEqual(call("GET", path, token).json()["state"], body["state"])
        again = call("POST", f"/api/v1/instances/{self.pg.name}/rotations", token)
        self.assertEqual((again.status_code, again.json()["error"]), (409, "rotation_refused"))


class NoPasswordTests(ApiTestCase):
    def test_it_returns_the_password_only_from_reveal(self) -> None:
        _, token = make_token(self.alpha)
        for method, path, _, _ in self.every_call():
            cache.clear()
            response = call(method, path, token)
            leaked = leaked_forms(response.content, TEST_PASSWORD)
            if path.endswith("/reveal"):
                self.assertTrue(leaked, "reveal must return the password")
            else:
                self.assertEqual(leaked, [], f"{method} {path}")

    def test_it_gives_the_connection_with_a_null_password(self) -> None:
        _, token = make_token(self.alpha)
        body = call("GET", f"/api/v1/instances/{self.pg.name}", token).json()
        self.assertIsNone(body["connection"]["password"])
        self.assertEqual(
            set(body["connection"]),
            {"host", "port", "username", "password", "database", "uri", "ca_file"},
        )

    def test_it_masks_the_password_in_snippets(self) -> None:
        _, token = make_token(self.alpha)
        body = call("GET", f"/api/v1/instances/{self.pg.name}/snippets", token).json()
        self.assertEqual(body["connection"]["password"], "••••••••")
        self.assertIn("••••••••", body["snippets"][0]["code"])
        ids = [snippet["id"] for snippet in body["snippets"]]
        self.assertIn("psql", ids)

    def test_it_writes_no_password_into_audit_records(self) -> None:
        _, token = make_token(self.alpha)
        for method, path, _, _ in self.every_call():
            call(method, path, token)
        for event in AuditEvent.objects.all():
            self.assertEqual(leaked_forms(json.dumps(event.detail), TEST_PASSWORD), [])

    def test_it_tells_caches_to_store_no_answer(self) -> None:
        _, token = make_token(self.alpha)
        answers = [call(method, path, token) for method, path, _, _ in self.every_call()]
        answers += [call("GET", "/api/v1/instances"), call("GET", "/api/v1/openapi.json")]
        for response in answers:
            self.assertIn("no-store", response["Cache-Control"], response.request["PATH_INFO"])

    def test_it_says_when_a_password_cannot_be_decrypted(self) -> None:
        seal_under_missing_key(self.pg)
        _, token = make_token(self.alpha)
        response = call("POST", f"/api/v1/instances/{self.pg.name}/reveal", token)
        self.assertEqual(response.status_code, 503)
        self.assertIn("lost7", response.json()["detail"])
        self.assertEqual(AuditEvent.objects.get(action="reveal").outcome, "error")


class SchemaAndDocsTests(ApiTestCase):
    def test_it_serves_an_openapi_3_schema_with_bearer_auth(self) -> None:
        schema = Client().get("/api/v1/openapi.json").json()
        self.assertTrue(schema["openapi"].startswith("3."))
        schemes = schema["components"]["securitySchemes"]
        self.assertEqual(schemes["TokenAuth"], {"type": "http", "scheme": "bearer"})
        self.assertIn("/api/v1/instances/{name}/reveal", schema["paths"])

    def test_it_serves_the_docs_from_the_portal_itself(self) -> None:
        page = Client().get("/api/v1/docs")
        html = page.content.decode()
        self.assertIn("/static/ninja/swagger-ui-bundle.js", html)
        self.assertIn('data-openapi-url="/api/v1/openapi.json"', html)
        self.assertNotIn("//cdn", html)
        self.assertEqual(Client().get("/static/ninja/swagger-ui-bundle.js").status_code, 200)
