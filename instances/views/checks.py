"""The Connection test tab, and the POST that runs a test and streams its steps as NDJSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST
from django_ratelimit.core import is_ratelimited
from django_ratelimit.exceptions import Ratelimited

from instances.access import get_instance_for
from instances.checks.report import STEP_NAMES
from instances.checks.service import InstanceCheck
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
        check = InstanceCheck(instance, actor=actor, request=request)
    except SecretUnavailable as problem:
        return HttpResponse(str(problem), status=503, content_type="text/plain; charset=utf-8")
    response = StreamingHttpResponse(_lines(check), content_type=NDJSON)
    response["X-Accel-Buffering"] = "no"  # let proxies pass each line on at once
    return response


def _lines(check: InstanceCheck) -> Iterator[str]:
    """One JSON object per line: start, each step as it finishes, then the whole report.
    The run is stored when the steps end, also when the browser goes away (close())."""
    yield _line({"event": "start", "steps": list(STEP_NAMES), "timeout": check.check.timeout})
    steps = check.steps()
    try:
        for step in steps:
            yield _line({"event": "step", "step": step.as_dict()})
    finally:
        steps.close()
    yield _line({"event": "done", "report": check.report.as_dict()})


def _line(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False) + "\n"
