"""The Connection test tab and its streaming POST, against real servers."""

from __future__ import annotations

import json
import time

import pytest
from django.core.cache import cache
from django.core.signals import request_finished
from django.db import close_old_connections
from django.test import Client, RequestFactory, override_settings
from django.urls import resolve, reverse

from instances.models import AuditEvent, CheckRun
from instances.views.checks import run_check
from tests.base import (
    ALLOW_LOOPBACK,
    BaseTestCase,
    freeze_rate_windows,
    instance_on,
    make_instance,
)


def events(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return [json.loads(line) for line in body.splitlines() if line]


class TestTabTests(BaseTestCase):
    def setUp(self) -> None:
        cache.clear()
        # 127.0.0.1 is in the default deny list: such a test fails at once, without traffic.
        self.denied = make_instance(self.alpha, "denied-pg", host="0.0.0.0")

    def run_url(self, name: str = "denied-pg") -> str:
        return reverse("instance-check-run", args=[name])

    def test_it_shows_the_tab_to_viewers_without_the_button(self):
        self.client.force_login(self.viewer)
        response = self.client.get(reverse("instance-check", args=["denied-pg"]))
        assert response.status_code == 200
        assert b"data-check-form" not in response.content
        assert b"DNS lookup" in response.content
        assert b"members and admins can run tests" in response.content.lower()

    def test_it_shows_the_button_to_members(self):
        self.client.force_login(self.member)
        response = self.client.get(reverse("instance-check", args=["denied-pg"]))
        assert b"data-check-form" in response.content
        assert self.run_url().encode() in response.content
        assert b"<script>" not in response.content
        assert b"style=" not in response.content

    def test_it_hides_other_teams_instances(self):
        self.client.force_login(self.outsider)
        assert self.client.get(reverse("instance-check", args=["denied-pg"])).status_code == 404
        assert self.client.post(self.run_url()).status_code == 404

    def test_it_refuses_viewers_a_run(self):
        self.client.force_login(self.viewer)
        assert self.client.post(self.run_url()).status_code == 403
        assert not CheckRun.objects.exists()

    def test_it_accepts_only_post(self):
        self.client.force_login(self.member)
        assert self.client.get(self.run_url()).status_code == 405

    def test_it_enforces_csrf(self):
        client = Client(enforce_csrf_checks=True)
        client.force_login(self.member)
        assert client.post(self.run_url()).status_code == 403
        page = client.get(reverse("instance-check", args=["denied-pg"]))
        token = page.context["csrf_token"]
        response = client.post(self.run_url(), HTTP_X_CSRFTOKEN=str(token))
        assert response.status_code == 200
        assert events(response)[-1]["event"] == "done"

    def test_it_streams_a_failed_run_and_stores_it(self):
        self.client.force_login(self.member)
        response = self.client.post(self.run_url())
        assert response.streaming
        assert response["Content-Type"] == "application/x-ndjson"
        lines = events(response)
        assert lines[0]["event"] == "start"
        assert [e["step"]["name"] for e in lines[1:-1]] == [
            "resolve",
            "tcp",
            "tls",
            "auth",
            "query",
            "limits",
        ]
        assert lines[-1]["report"]["status"] == "fail"
        assert lines[1]["step"]["hint"]
        run = CheckRun.objects.get(instance=self.denied)
        assert run.actor == self.member
        assert AuditEvent.objects.filter(action="connection_test", actor=self.member).exists()

    def test_it_rate_limits_per_user_and_instance(self):
        freeze_rate_windows(self)
        self.client.force_login(self.member)
        for _ in range(10):
            assert self.client.post(self.run_url()).status_code == 200
        limited = self.client.post(self.run_url())
        assert limited.status_code == 429
        assert b"Wait a minute" in limited.content
        make_instance(self.alpha, "denied-cache", "valkey", host="0.0.0.0")
        assert self.client.post(self.run_url("denied-cache")).status_code == 200
        self.client.force_login(self.admin)
        assert self.client.post(self.run_url()).status_code == 200


@pytest.mark.servers
@override_settings(ZEKTOR_CHECK_DENY_NETWORKS=ALLOW_LOOPBACK, ZEKTOR_CHECK_TIMEOUT=2.0)
class LiveTestTabTests(BaseTestCase):
    @pytest.fixture(autouse=True)
    def _servers(self, pg_tls, tarpit):
        self.pg_server, self.tarpit = pg_tls, tarpit

    def setUp(self) -> None:
        cache.clear()
        self.client.force_login(self.member)

    def test_it_streams_a_healthy_run_without_the_password(self):
        instance = instance_on(self.pg_server, self.alpha, "live-pg")
        response = self.client.post(reverse("instance-check-run", args=["live-pg"]))
        body = response.getvalue().decode()
        assert self.pg_server.password not in body
        report = json.loads(body.splitlines()[-1])["report"]
        assert report["status"] == "ok"
        assert report["tls"]["certificate"]["chain_valid"] is True
        page = self.client.get(reverse("instance-check", args=["live-pg"]))
        assert b"TLS and certificate" in page.content
        assert b"Chain trusted" in page.content
        instance.refresh_from_db()
        assert instance.last_check_status == "ok"
        listing = self.client.get(reverse("instance-list"))
        assert f"{instance.cert_not_after:%Y-%m-%d}".encode() in listing.content

    def test_it_lets_a_tarpit_hold_the_request_no_longer_than_the_deadline(self):
        instance_on(self.pg_server, self.alpha, "pit", port=self.tarpit.port)
        began = time.monotonic()
        response = self.client.post(reverse("instance-check-run", args=["pit"]))
        lines = events(response)
        assert time.monotonic() - began < 3.0
        assert lines[-1]["report"]["status"] == "fail"

    def test_it_stores_the_run_when_the_browser_goes_away(self):
        instance = instance_on(self.pg_server, self.alpha, "live-pg")
        # The view itself, not the test client: the client's stream wrapper reconnects
        # request_finished handlers when a stream is closed half-read.
        path = reverse("instance-check-run", args=["live-pg"])
        request = RequestFactory().post(path)
        request.user, request.resolver_match = self.member, resolve(path)
        response = run_check(request, "live-pg")
        stream = iter(response)
        next(stream)  # "start"
        next(stream)  # the first step
        # What the WSGI server does when the client disconnects; keep request_finished
        # from closing the test's database connection, as Django's test client does.
        request_finished.disconnect(close_old_connections)
        try:
            response.close()
        finally:
            request_finished.connect(close_old_connections)
        run = CheckRun.objects.get(instance=instance)
        assert run.status == "ok"
        assert len(run.result["steps"]) == 6
