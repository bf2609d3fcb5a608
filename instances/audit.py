"""Writing audit events. Callers pass what happened; this never accepts a secret value."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from instances.models import AuditEvent, Instance, Team

# A request authenticated by other means than a session (an API token) names its actor
# here: a dict of audit detail with at least "actor_name", which wins over the caller's.
AUDIT_AS = "zektor_audit_as"


def client_address(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def record(
    action: str,
    *,
    request: HttpRequest | None = None,
    actor=None,
    instance: Instance | None = None,
    team: Team | None = None,
    outcome: str = "ok",
    **detail: Any,
) -> AuditEvent:
    if request is not None:
        detail = {**detail, **getattr(request, AUDIT_AS, {})}
    if request is not None and actor is None and request.user.is_authenticated:
        actor = request.user
    if proof := getattr(request, "step_up_method", None):
        detail.setdefault("proof", proof)  # how the user proved it before this (accounts/stepup)
    return AuditEvent.objects.create(
        action=action,
        actor=actor,
        actor_name=getattr(actor, "username", "") or detail.pop("actor_name", ""),
        instance=instance,
        instance_name=instance.name if instance else "",
        team=team or (instance.team if instance else None),
        client_address=client_address(request) if request else None,
        user_agent=(request.headers.get("User-Agent", "")[:300] if request else ""),
        outcome=outcome,
        detail=detail,
    )
