"""Connection tests from the web during an outage: one run per instance (joined by everyone
else, in this process or through Redis), a bound per process that answers at once, and runs
that finish and are stored once when the browser goes away. Real servers and tarpits."""

from __future__ import annotations

import contextlib
import json
import math
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.urls import reverse

from api.models import Scope
from instances.checks import runs
from instances.checks.board import RedisBoard, RunInfo
from instances.checks.service import InstanceCheck
from instances.models import AuditEvent, CheckRun, Membership, Role, Team
from tests.api_support import call, make_token
from tests.base import ALLOW_LOOPBACK, BaseTestCase, admin_form_data, instance_on
from tests.portal_http import PortalUser

ROOT = Path(__file__).resolve().parent.parent
STEPS = ["resolve", "tcp", "tls", "auth", "query", "limits"]


def owned_run(instance, actor) -> runs.OwnedRun:
    run = runs.begin(instance, actor=actor)
    assert isinstance(run, runs.OwnedRun), "no test of the instance was running"
    return run


def joined_run(instance, actor) -> list[dict]:
    run = runs.begin(instance, actor=actor)
    assert isinstance(run, runs.Joined), "a test of the instance was running"
    return run.events  # at once: a joiner holds no thread


def drain(run: runs.OwnedRun) -> list[dict]:
    try:
        return list(run)
    finally:
        run.close()


def follow_to_the_end(instance, joined: list[dict], advance) -> list[dict]:
    """What a joined page receives: the first answer, then each poll's, until the end;
    ``advance()`` lets the owner run on between polls."""
    received = list(joined)
    while received[-1]["event"] == "follow":
        follow = received.pop()
        advance()
        received += runs.follow(instance, follow["run"], follow["after"])
    return received


@pytest.mark.servers
@override_settings(ZEKTOR_CHECK_DENY_NETWORKS=ALLOW_LOOPBACK, ZEKTOR_CHECK_TIMEOUT=2.0)
class JoiningTests(BaseTestCase):
    @pytest.fixture(autouse=True)
    def _servers(self, pg_tls, tarpit, redis_plain):
        self.pg_server, self.tarpit, self.redis_server = pg_tls, tarpit, redis_plain

    def setUp(self) -> None:
        cache.clear()
        self.pit = instance_on(self.pg_server, self.alpha, "pit", port=self.tarpit.port)

    def assert_joined_the_same_run(self) -> None:
        owner = owned_run(self.pit, self.member)
        events = iter(owner)
        owned = [next(events), next(events), next(events)]
        assert owned[0]["joined"] is False
        assert [e["step"]["name"] for e in owned[1:]] == ["resolve", "tcp"]  # TLS waits now
        joined = joined_run(self.pit, self.admin)
        start, *so_far = joined
        assert start["joined"] is True
        assert start["started_by"] == "bob"
        assert (start["run"], start["started_at"]) == (owned[0]["run"], owned[0]["started_at"])
        assert so_far[:-1] == owned[1:]  # the steps reached before joining...
        assert so_far[-1]["event"] == "follow"
        assert so_far[-1]["after"] == 2

        def advance() -> None:
            with contextlib.suppress(StopIteration):
                owned.append(next(events))

        received = follow_to_the_end(self.pit, so_far, advance)  # ...then each new one
        owned += list(events)
        owner.close()
        assert received == owned[1:]
        assert [e["step"]["name"] for e in received if e["event"] == "step"] == STEPS
        assert received[-1]["event"] == "done"
        assert received[-1]["report"]["status"] == "fail"
        run = CheckRun.objects.get(instance=self.pit)  # stored once
        assert received[-1]["check_run"] == run.pk
        assert run.actor == self.member
        assert AuditEvent.objects.filter(action="connection_test", instance=self.pit).count() == 1

    def test_it_joins_a_running_test_in_this_process(self):
        self.assert_joined_the_same_run()

    def test_it_joins_a_running_test_through_redis(self):
        with override_settings(ZEKTOR_REDIS_URL=self.redis_server.url()):
            self.assert_joined_the_same_run()

    def test_another_app_server_follows_the_run_through_redis(self):
        """A second process finds and follows the run this one owns, through Redis alone."""
        url = self.redis_server.url()
        with override_settings(ZEKTOR_REDIS_URL=url):
            owner = owned_run(self.pit, self.member)
            events = iter(owner)
            start = next(events)
            follower = subprocess.Popen(
                [sys.executable, "-c", FOLLOWER, url, f"instance:{self.pit.pk}"],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert follower.stdout is not None
            assert follower.stdout.readline().strip() == start["run"]  # it found the run
            owned = list(events)
            owner.close()
            out, _ = follower.communicate(timeout=20)
        assert [json.loads(line) for line in out.splitlines()] == owned
        assert owned[-1]["check_run"] == CheckRun.objects.get(instance=self.pit).pk

    def test_a_second_test_after_the_first_ended_runs_anew(self):
        first = drain(owned_run(self.pit, self.member))
        second = drain(owned_run(self.pit, self.admin))
        assert second[0]["joined"] is False
        assert second[0]["run"] != first[0]["run"]
        assert CheckRun.objects.filter(instance=self.pit).count() == 2

    def test_it_tells_joined_viewers_when_the_run_vanished(self):
        """The owner's app server died mid-run: the joined page gets a clear end."""
        url = self.redis_server.url()
        with override_settings(ZEKTOR_REDIS_URL=url):
            info = RunInfo(
                id=str(uuid.uuid4()),
                key=f"instance:{self.pit.pk}",
                started_by="bob",
                started_at="2026-01-01T00:00:00+00:00",
                timeout=1.0,
                expires_at=time.time() + 1.0,
            )
            log = RedisBoard(url).take(info)
            assert log is not None
            log.publish({"event": "step", "step": {"name": "resolve"}})
            joined = joined_run(self.pit, self.admin)
            assert joined[0]["joined"] is True
            received = follow_to_the_end(self.pit, joined[1:], lambda: time.sleep(0.5))
        assert received[0]["step"]["name"] == "resolve"
        assert received[-1]["event"] == "lost"
        assert "Run the test again" in received[-1]["message"]

    def test_it_follows_only_runs_of_the_instance_asked_for(self):
        owner = owned_run(self.pit, self.member)
        start = next(iter(owner))
        try:
            assert runs.follow(self.pg, start["run"])[-1]["event"] == "lost"
            assert runs.follow(self.pit, str(uuid.uuid4()))[-1]["event"] == "lost"
        finally:
            owner.close()


# A separate app server's view of the board: no Django settings, just Redis.
FOLLOWER = """
import json, sys, time
from instances.checks.board import RedisBoard
board = RedisBoard(sys.argv[1])
info, seen = board.current(sys.argv[2]), 0
print(info.id, flush=True)
while True:
    _, events = board.read(info.id, seen)
    seen += len(events)
    for event in events:
        print(json.dumps(event), flush=True)
    if any(event["event"] in ("done", "lost") for event in events):
        break
    time.sleep(0.1)
"""


@pytest.mark.servers
@override_settings(
    ZEKTOR_CHECK_DENY_NETWORKS=ALLOW_LOOPBACK, ZEKTOR_CHECK_TIMEOUT=2.0, ZEKTOR_CHECK_CONCURRENCY=1
)
class BoundTestCase(BaseTestCase):
    """A bound of one test per process, an instance behind a tarpit and a healthy one."""

    @pytest.fixture(autouse=True)
    def _servers(self, pg_tls, tarpit):
        self.pg_server, self.tarpit = pg_tls, tarpit

    def setUp(self) -> None:
        cache.clear()
        self.pit = instance_on(self.pg_server, self.alpha, "pit", port=self.tarpit.port)
        self.healthy = instance_on(self.pg_server, self.alpha, "healthy")


class BoundTests(BoundTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.client.force_login(self.member)

    def test_it_refuses_a_test_over_the_bound_at_once_with_retry_after(self):
        busy = owned_run(self.pit, self.admin)
        next(iter(busy))
        try:
            began = time.monotonic()
            refused = self.client.post(reverse("instance-check-run", args=["healthy"]))
            answered_in = time.monotonic() - began
        finally:
            drain(busy)
        assert refused.status_code == 429
        assert not refused.streaming
        assert 1 <= int(refused["Retry-After"]) <= 2  # when the running test's deadline is
        assert refused.content.decode().startswith(
            "1 connection test is running on this server; try again in"
        )
        assert answered_in < 1.0  # no queue, no run: the refusal does not wait for anything
        assert not CheckRun.objects.filter(instance=self.healthy).exists()
        # The slot is free again once the running test ended.
        ok = self.client.post(reverse("instance-check-run", args=["healthy"]))
        body = b"".join(ok).decode()
        assert json.loads(body.splitlines()[-1])["report"]["status"] == "ok"

    def test_joining_takes_no_slot(self):
        """However many join, they hold no thread: over the bound they still join."""
        busy = owned_run(self.pit, self.admin)
        next(iter(busy))
        try:
            for _ in range(5):
                joined = self.client.post(reverse("instance-check-run", args=["pit"]))
                assert joined.status_code == 200
                assert not joined.streaming
                lines = [json.loads(line) for line in joined.content.decode().splitlines()]
                assert lines[0]["joined"] is True
                assert lines[-1]["url"].startswith(f"/instances/pit/test/runs/{lines[0]['run']}")
        finally:
            drain(busy)

    def test_a_slot_never_closed_frees_itself_after_its_deadline(self):
        slots = runs.Slots()
        slots.take(1, -runs.MARGIN_SECONDS + 0.05)
        with pytest.raises(runs.Busy):
            slots.take(1, 1)
        time.sleep(0.1)
        slots.take(1, 1).release()
        assert slots.in_use == 0

    def test_check_instances_is_not_limited_by_the_web_bound(self):
        pits = [
            instance_on(self.pg_server, self.alpha, f"pit-{n}", port=self.tarpit.port)
            for n in range(3)
        ]
        busy = owned_run(self.pit, self.admin)
        next(iter(busy))
        try:
            accepted = self.tarpit.accepted
            with pytest.raises(CommandError):
                call_command(
                    "check_instances", *[p.name for p in pits], "--concurrency", "3", "--json"
                )
        finally:
            drain(busy)
        assert self.tarpit.accepted - accepted >= 3  # every one of them ran, none refused
        for instance in pits:
            assert CheckRun.objects.get(instance=instance).status == "fail"


@pytest.mark.servers
@pytest.mark.django_db(transaction=True)
def test_a_run_whose_browser_went_away_finishes_and_is_stored_once(
    live_server, settings, pg_tls, tarpit
):
    """Real HTTP: the client hangs up after the first line; the run goes on to its end."""
    settings.ZEKTOR_CHECK_DENY_NETWORKS = ALLOW_LOOPBACK
    settings.ZEKTOR_CHECK_TIMEOUT = 2.0
    team = Team.objects.create(name="Live")
    user = User.objects.create_user("dana", password="a-long-password-for-dana")
    Membership.objects.create(user=user, team=team, role=Role.MEMBER)
    instance = instance_on(pg_tls, team, "pit", port=tarpit.port)
    browser = PortalUser(live_server.url)
    browser.login("dana", "a-long-password-for-dana")
    response = browser.stream(reverse("instance-check-run", args=["pit"]))
    assert response.status == 200
    assert next(response.events())["event"] == "start"
    response.hang_up()
    assert not CheckRun.objects.filter(instance=instance).exists()  # still running
    deadline = time.monotonic() + 2.0 + runs.MARGIN_SECONDS
    while not CheckRun.objects.filter(instance=instance).exists():
        assert time.monotonic() < deadline, "the run was not stored within its deadline"
        time.sleep(0.1)
    time.sleep(0.5)
    run = CheckRun.objects.get(instance=instance)  # once
    assert [step["name"] for step in run.result["steps"]] == STEPS
    assert run.status == "fail"
    assert run.actor == user
    while runs.SLOTS.in_use:  # the slot comes back once the run is stored
        assert time.monotonic() < deadline + 1
        time.sleep(0.05)


@pytest.mark.servers
@pytest.mark.django_db(transaction=True)
def test_a_joined_page_follows_the_run_over_http(live_server, settings, pg_tls, tarpit):
    """Real HTTP: the second tester's POST answers at once; its polls bring the rest."""
    settings.ZEKTOR_CHECK_DENY_NETWORKS = ALLOW_LOOPBACK
    settings.ZEKTOR_CHECK_TIMEOUT = 2.0
    team = Team.objects.create(name="Live")
    for username in ("dana", "eve"):
        user = User.objects.create_user(username, password=f"a-long-password-for-{username}")
        Membership.objects.create(user=user, team=team, role=Role.MEMBER)
    instance = instance_on(pg_tls, team, "pit", port=tarpit.port)
    dana, eve = PortalUser(live_server.url), PortalUser(live_server.url)
    dana.login("dana", "a-long-password-for-dana")
    eve.login("eve", "a-long-password-for-eve")
    path = reverse("instance-check-run", args=["pit"])
    owner = dana.stream(path)
    owned = owner.events()
    start = next(owned)
    joined = eve.post(path)
    assert joined.status == 200
    lines = [json.loads(line) for line in joined.text.splitlines()]
    assert lines[0]["joined"] is True
    assert lines[0]["started_by"] == "dana"
    while lines[-1]["event"] == "follow":
        follow = lines.pop()
        time.sleep(follow["poll_ms"] / 1000)
        answer = eve.get(follow["url"])
        assert answer.status == 200
        lines += [json.loads(line) for line in answer.text.splitlines()]
    rest = list(owned)
    assert lines[0]["run"] == start["run"]
    assert lines[1:] == rest
    assert rest[-1]["check_run"] == CheckRun.objects.get(instance=instance).pk


def while_running(instance, actor, ask):
    """``ask()`` while ``actor``'s test of ``instance`` runs (past its first step): its
    answer, and how long that took."""
    busy = owned_run(instance, actor)
    next(iter(busy))
    try:
        began = time.monotonic()
        answer = ask()
        return answer, time.monotonic() - began
    finally:
        drain(busy)


BUSY = "1 connection test is running on this server; try again in"


class OtherCallersTests(BoundTestCase):
    """The API's check and the instance form's test of unsaved values go through the same
    run coordination and bound as the web test."""

    def setUp(self) -> None:
        super().setUp()
        _, self.token = make_token(self.alpha, [Scope.TEST, Scope.SETTINGS], name="ci")

    def api_check(self, name: str):
        return call("POST", f"/api/v1/instances/{name}/checks", self.token)

    def test_the_api_answers_409_while_someone_elses_run_of_the_instance_goes(self):
        refused, answered_in = while_running(self.pit, self.admin, lambda: self.api_check("pit"))
        assert refused.status_code == 409
        body = refused.json()
        assert body["error"] == "check_running"
        assert "started by alice at " in body["detail"]
        assert 1 <= int(refused["Retry-After"]) <= math.ceil(2 + runs.MARGIN_SECONDS)
        assert answered_in < 1.0  # it holds no thread while the run goes on
        assert CheckRun.objects.filter(instance=self.pit).count() == 1  # the owner's, once
        assert "no-store" in refused["Cache-Control"]

    def test_a_web_test_joins_the_apis_run_and_sees_the_token(self):
        run = runs.begin(self.pit, actor=None, actor_name="token:ci")
        assert isinstance(run, runs.OwnedRun)
        next(iter(run))
        try:
            self.client.force_login(self.member)
            joined = self.client.post(reverse("instance-check-run", args=["pit"]))
            start = json.loads(joined.content.decode().splitlines()[0])
        finally:
            drain(run)
        assert (start["joined"], start["started_by"]) == (True, "token:ci")

    def test_the_api_refuses_a_check_over_the_bound_at_once_with_retry_after(self):
        refused, answered_in = while_running(
            self.pit, self.admin, lambda: self.api_check("healthy")
        )
        assert (refused.status_code, 1 <= int(refused["Retry-After"]) <= 2) == (429, True)
        body = refused.json()
        assert (sorted(body), body["error"]) == (["detail", "error"], "busy")
        assert body["detail"].startswith(BUSY)
        assert answered_in < 1.0
        assert not CheckRun.objects.filter(instance=self.healthy).exists()
        # Once the slot is back the API runs its own test, stored once, and frees the slot.
        ok = self.api_check("healthy")
        assert ok.status_code == 200
        assert ok.json()["status"] == "ok", ok.json()
        assert CheckRun.objects.filter(instance=self.healthy).count() == 1
        assert runs.SLOTS.in_use == 0

    def test_the_forms_test_of_unsaved_values_takes_a_slot_of_the_bound(self):
        self.client.force_login(self.admin)
        url = reverse("instance-edit-test", args=["healthy"])
        refused, answered_in = while_running(
            self.pit, self.admin, lambda: self.client.post(url, admin_form_data(self.healthy))
        )
        assert (refused.status_code, 1 <= int(refused["Retry-After"]) <= 2) == (429, True)
        assert not refused.streaming
        assert refused.content.decode().startswith(BUSY)  # what checks.js shows
        assert answered_in < 1.0
        ok = self.client.post(url, admin_form_data(self.healthy))
        assert runs.SLOTS.in_use == 1  # the streaming test holds it
        lines = [json.loads(line) for line in b"".join(ok).decode().splitlines()]
        assert lines[-1]["report"]["status"] == "ok"
        assert runs.SLOTS.in_use == 0
        # A response closed before its first line (the web server's close()) gives it back.
        runs.begin_draft(lambda: InstanceCheck(self.healthy).check).close()
        assert runs.SLOTS.in_use == 0
        assert not CheckRun.objects.filter(instance=self.healthy).exists()
