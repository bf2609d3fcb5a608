"""The Settings tab: connection details, snippets and limits; audited reveal and copy of secrets."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from accounts.stepup import step_up_required
from instances.access import get_instance_for
from instances.models import Instance, Membership, Role
from instances.secrets import Purpose, SecretUnavailable, open_password
from instances.snippets import build_snippets, connection_details, connection_uri
from instances.tiers import TierLimits, limits_table
from instances.validation import snippet_problem
from instances.views.secrets import throttled
from instances.views.snippet_panels import SnippetPanel, masked_panels, snippet_panels

COPYABLE_FIELDS = ("password", "uri")
MAX_PROCESSES = 100_000


@dataclass(frozen=True)
class PoolAdvice:
    processes: int
    connections: int
    limits: TierLimits
    fitting_tier: TierLimits | None

    @property
    def needs_pooler(self) -> bool:
        return self.limits.needs_pooler(self.processes)

    @property
    def pool_size_that_fits(self) -> int:
        """A smaller per-process pool that keeps all processes within the limit (0: none)."""
        return self.limits.processes_that_fit * self.limits.pool_size // self.processes


def pool_advice(limits: TierLimits, tiers: list[TierLimits], raw: str | None) -> PoolAdvice | None:
    try:
        processes = int(raw or "")
    except ValueError:
        return None
    if not 1 <= processes <= MAX_PROCESSES:
        return None
    fitting = next((tier for tier in tiers if not tier.needs_pooler(processes)), None)
    return PoolAdvice(processes, processes * limits.pool_size, limits, fitting)


def render_settings(
    request: HttpRequest,
    instance: Instance,
    membership: Membership,
    *,
    password: str | None = None,
    error: str = "",
) -> HttpResponse:
    """The page; with `password` (right after an audited reveal) the secret is shown once."""
    revealed = password is not None
    tiers = limits_table(instance.engine)
    limits = instance.limits
    problem = snippet_problem(instance)
    context = {
        "instance": instance,
        "membership": membership,
        "tab": "settings",
        "details": connection_details(instance, password, with_uri=not problem),
        "panels": [] if problem else _panels(instance, password),
        "problem": problem,
        "revealed": revealed,
        "can_reveal": membership.allows(Role.MEMBER),
        "error": error,
        "limits": limits,
        "tiers": tiers,
        "processes": request.GET.get("processes", ""),
        "advice": pool_advice(limits, tiers, request.GET.get("processes")),
    }
    return render(request, "instances/settings.html", context)


def _panels(instance: Instance, password: str | None) -> list[SnippetPanel]:
    if password is None:
        return masked_panels(instance)
    return snippet_panels(build_snippets(instance, password), secret=True)


@login_required
@require_GET
def instance_settings(request: HttpRequest, name: str) -> HttpResponse:
    instance, membership = get_instance_for(request.user, name)
    return render_settings(request, instance, membership)


@login_required
@require_POST
@step_up_required
def reveal(request: HttpRequest, name: str) -> HttpResponse:
    """Answers with the page itself (no redirect), so the secret lives in this response only."""
    instance, membership = get_instance_for(request.user, name, Role.MEMBER)
    if response := throttled(request):
        return response
    try:
        password = open_password(instance, Purpose.REVEAL, request=request)
    except SecretUnavailable as problem:
        return render_settings(request, instance, membership, error=str(problem))
    return render_settings(request, instance, membership, password=password)


@login_required
@require_POST
@step_up_required
def copy_secret(request: HttpRequest, name: str) -> JsonResponse | HttpResponse:
    """`{"field": "password"|"uri"}` (JSON or form) -> `{"value": ...}` for the clipboard."""
    instance, _ = get_instance_for(request.user, name, Role.MEMBER)
    field = requested_field(request)
    if field not in COPYABLE_FIELDS:
        return JsonResponse({"error": "field must be 'password' or 'uri'"}, status=400)
    if response := throttled(request):
        return response
    try:
        password = open_password(instance, Purpose.COPY, request=request, field=field)
    except SecretUnavailable as problem:
        return JsonResponse({"error": str(problem)}, status=problem.status)
    value = password if field == "password" else connection_uri(instance, password)
    return JsonResponse({"value": value})


def requested_field(request: HttpRequest) -> str | None:
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            return None
        return body.get("field") if isinstance(body, dict) else None
    return request.POST.get("field")
