"""The Connection test tab, and the POST that runs a test and streams its steps as NDJSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_ratelimit.core import is_ratelimited
from django_ratelimit.exceptions import Ratelimited

from instances.access import get_instance_for
from instances.checks import runs
from instances.checks.report import STEP_NAMES
from instances.models import Role
from instances.secrets import SecretUnavailable
from instances.views import rate_limited

CHECK_RATE = "10/m"
CHECK_RATE_GROUP = "connection-check"
NDJSON = "application/x-ndjson"


STEP_TITLES = {
    "resolve": "DNS lookup",
    "tcp": "TCP connection",
    "tls": "TLS and certificate",
    "auth": "Login",
    "query": "Query",
    "limits": "Connection limits",
}
STATUS_LABELS = {
    "ok": "✓ OK",
    "warn": "! Warning",
    "fail": "✗ Failed",
    "skipped": "○ Skipped",
    "pending": "· Not run",
}


def display_steps(result: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The steps of a stored report (or placeholders) with titles and status labels."""
    stored = {step["name"]: step for step in (result or {}).get("steps", [])}
    rows = []
    for name in STEP_NAMES:
        step = stored.get(name, {"status": "pending"})
        rows.append(
            {
                **step,
                "name": name,
                "title": STEP_TITLES[name],
                "label": STATUS_LABELS[step["status"]],
            }
        )
    return rows


def _user_and_instance(group: str, request: HttpRequest) -> str:
    assert request.resolver_match is not None, "a rate limit key of a routed view"
    return f"{request.user.pk}:{request.resolver_match.kwargs['name']}"


@login_required
@require_GET
def instance_check(request: HttpRequest, name: str) -> HttpResponse:
    instance, membership = get_instance_for(request.user, name)
    last = instance.checks.select_related("actor").first()
    return render(
        request,
        "instances/check.html",
        {
            "instance": instance,
            "membership": membership,
            "tab": "check",
            "can_check": membership.allows(Role.MEMBER),
            "last": last,
            "steps": display_steps(last.result if last else None),
            "timeout": settings.ZEKTOR_CHECK_TIMEOUT,
        },
    )


@login_required
@require_POST
def run_check(request: HttpRequest, name: str) -> HttpResponse | StreamingHttpResponse:
    instance, _ = get_instance_for(request.user, name, Role.MEMBER)
    if is_ratelimited(
        request, group=CHECK_RATE_GROUP, key=_user_and_instance, rate=CHECK_RATE, increment=True
    ):
        return rate_limited(request, Ratelimited())
    try:
        actor = request.user if isinstance(request.user, User) else None
        run = runs.begin(instance, actor=actor, request=request)
    except runs.Busy as busy:
        return busy_response(busy)
    except SecretUnavailable as problem:
        return HttpResponse(str(problem), status=503, content_type="text/plain; charset=utf-8")
    if isinstance(run, runs.Joined):  # someone else's run: its events so far
        return _ndjson(name, run.events)
    return stream(run, name)


def busy_response(busy: runs.Busy) -> HttpResponse:
    """429 at once, with what the test page shows and when to try again."""
    refused = HttpResponse(str(busy), status=429, content_type="text/plain; charset=utf-8")
    refused["Retry-After"] = str(busy.retry_after)
    return refused


def stream(run: runs.OwnedRun | runs.DraftRun, name: str = "") -> StreamingHttpResponse:
    """A run's events as NDJSON lines as they happen (``name``: the instance whose run
    joiners follow)."""
    response = StreamingHttpResponse(_Lines(name, run), content_type=NDJSON)
    response["X-Accel-Buffering"] = "no"  # let proxies pass each line on at once
    return response


@login_required
@require_GET
def follow_check(request: HttpRequest, name: str, run: UUID) -> HttpResponse:
    """The next events of a run this page joined (reads the board, contacts nothing)."""
    instance, _ = get_instance_for(request.user, name, Role.MEMBER)
    after = request.GET.get("after", "0")
    if not after.isdigit():
        return HttpResponse(
            "after must be a whole number", status=400, content_type="text/plain; charset=utf-8"
        )
    return _ndjson(name, runs.follow(instance, str(run), int(after)))


def _line(name: str, event: dict[str, Any]) -> str:
    """One event as a line of NDJSON; a ``follow`` event gets the URL to ask next."""
    if event["event"] == "follow":
        url = reverse("instance-check-follow", args=[name, event["run"]])
        event = {**event, "url": f"{url}?after={event['after']}"}
    return json.dumps(event, ensure_ascii=False) + "\n"


def _ndjson(name: str, events: list[dict[str, Any]]) -> HttpResponse:
    return HttpResponse("".join(_line(name, event) for event in events), content_type=NDJSON)


class _Lines:
    """A run's events as they happen. The web server's close() reaches the run, so it
    still finishes and is stored when the browser goes away."""

    def __init__(self, name: str, run: runs.OwnedRun | runs.DraftRun) -> None:
        self.name, self.run = name, run

    def __iter__(self) -> Iterator[str]:
        return (_line(self.name, event) for event in self.run)

    def close(self) -> None:
        self.run.close()
