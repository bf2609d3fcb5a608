"""Writing audit events. Callers pass what happened; this never accepts a secret value."""

from __future__ import annotations

import getpass
import hashlib
import os
from typing import Any

from django.http import HttpRequest

from instances.clientaddress import client_address
from instances.models import AuditEvent, Instance, Membership, Team

# Fields that decide where an instance's stored password is sent, and how it is protected.
WATCHED_FIELDS = ("host", "port", "sslmode", "tls", "ca_cert", "team")
# A request authenticated by other means than a session (an API token) names its actor
# here: a dict of audit detail with at least "actor_name", which wins over the caller's.
AUDIT_AS = "zektor_audit_as"


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


def command_actor(command: str) -> str:
    """The actor name of a management command: the command and the OS user who ran it."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid {os.getuid()}"
    return f"manage.py {command} (OS user {user})"[:150]


def shown(instance: Instance, field: str) -> Any:
    """A field's value as audit records show it: the team's name, a CA's fingerprint."""
    if field == "team":
        return instance.team.name if instance.team_id else None
    if field == "ca_cert":
        # A fingerprint, not the PEM: short, and it tells which CA was trusted.
        pem = instance.ca_cert
        return "sha256:" + hashlib.sha256(pem.encode()).hexdigest()[:16] if pem else None
    return getattr(instance, field)


def instance_changes(
    before: Instance, after: Instance, fields: tuple[str, ...] = WATCHED_FIELDS
) -> dict[str, dict[str, Any]]:
    """``{field: {"before", "after"}}`` for every one of `fields` that differs."""
    changes = {}
    for field in fields:
        old, new = shown(before, field), shown(after, field)
        if old != new:
            changes[field] = {"before": old, "after": new}
    return changes


def record_instance_change(
    before: Instance, after: Instance, fields: tuple[str, ...] = WATCHED_FIELDS, **kwargs: Any
) -> list[AuditEvent]:
    """An ``instance_changed`` record when one of `fields` changed (never a secret), in the
    audit log of the team it belonged to and, when it moved, of its new team too."""
    changes = instance_changes(before, after, fields)
    if not changes:
        return []
    teams = {team.pk: team for team in (before.team, after.team)}
    return [
        record("instance_changed", instance=after, team=team, changes=changes, **kwargs)
        for team in teams.values()
    ]


MembershipSnapshot = dict[int, tuple[str, str]]


def _membership_change(
    old: tuple[str, str] | None, new: tuple[str, str] | None
) -> tuple[str, dict[str, Any]]:
    """The action and audit detail of one membership's change (old, new or both are set)."""
    if new is None:
        assert old is not None
        return "member_removed", {"member": old[0], "role": old[1]}
    if old is None:
        return "member_added", {"member": new[0], "role": new[1]}
    return "member_role_changed", {"member": new[0], "role": {"before": old[1], "after": new[1]}}


def memberships_of(team: Team) -> MembershipSnapshot:
    """user id -> (username, role) of the team's members, to compare before and after."""
    rows = Membership.objects.filter(team=team).values_list("user_id", "user__username", "role")
    return {user_id: (username, role) for user_id, username, role in rows}


def record_membership_changes(
    team: Team, before: MembershipSnapshot, after: MembershipSnapshot, **kwargs: Any
) -> list[AuditEvent]:
    """``member_added``, ``member_role_changed`` and ``member_removed`` records."""
    events = []
    for user_id in sorted(before.keys() | after.keys()):
        old, new = before.get(user_id), after.get(user_id)
        if old == new:
            continue
        action, detail = _membership_change(old, new)
        events.append(record(action, team=team, **detail, **kwargs))
    return events
