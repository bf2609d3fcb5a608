"""The API against real TLS PostgreSQL and Valkey servers: a connection test, and a
rotation whose new password the reveal hands out and the server accepts."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import override_settings

from api.models import Scope
from instances.models import RotationState
from tests.api_support import call, make_token
from tests.base import LiveServersTestCase, instance_on
from tests.rotation_support import logs_in
from tests.servers import HOSTILE_PASSWORD


@override_settings(ZEKTOR_CHECK_TIMEOUT=5.0)
class ApiOnServersTests(LiveServersTestCase):
    @pytest.fixture(autouse=True)
    def _makers(self, make_pg, make_redis):
        self.make_pg, self.make_redis = make_pg, make_redis
        cache.clear()

    def test_it_runs_the_web_tests_engine_and_returns_its_report(self) -> None:
        for server, name in ((self.pg_server, "live-pg"), (self.redis_server, "live-cache")):
            instance_on(server, self.alpha, name)
            _, token = make_token(self.alpha, [Scope.TEST, Scope.SETTINGS], name=f"ci-{name}")
            report = call("POST", f"/api/v1/instances/{name}/checks", token).json()
            self.assertEqual(report["status"], "ok", report)
            self.assertEqual([s["status"] for s in report["steps"]], ["ok"] * 6)
            self.assertTrue(report["tls"]["certificate"]["chain_valid"])
            self.assertNotIn(server.password, str(report))
            stored = call("GET", f"/api/v1/instances/{name}/checks", token).json()
            self.assertEqual(stored[0]["report"], report)

    def test_it_rotates_and_reveals_the_new_password_that_logs_in(self) -> None:
        for server in (self.make_pg(), self.make_redis()):
            instance = instance_on(server, self.alpha, f"rot-{server.engine}")
            _, token = make_token(
                self.alpha, [Scope.ROTATE, Scope.REVEAL], name=f"cron-{server.engine}"
            )
            base = f"/api/v1/instances/{instance.name}"
            started = call("POST", f"{base}/rotations", token)
            self.assertEqual(started.status_code, 201)
            self.assertEqual(started.json()["state"], RotationState.DONE, started.json())
            self.assertNotIn(HOSTILE_PASSWORD, started.content.decode())
            new = call("POST", f"{base}/reveal", token).json()["password"]
            self.assertNotEqual(new, HOSTILE_PASSWORD)
            self.assertTrue(logs_in(server, new))
            self.assertFalse(logs_in(server, HOSTILE_PASSWORD))
            status = call("GET", f"{base}/rotations/{started.json()['rotation']}", token).json()
            self.assertEqual(status["state"], RotationState.DONE)
