"""What a person saw of a team's passwords, per instance, from the audit log: the question an
admin has when someone leaves. A password counts as seen when it was revealed, copied or
downloaded after the instance's last password change (a promoted rotation or a new password
set by an admin); those instances want a rotation."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.contrib.auth.models import User
from django.db.models import Max

from instances.models import AuditEvent, Instance, Team

# Audit actions that handed out an instance's password (outcome "ok" only).
EXPOSING_ACTIONS = ("reveal", "copy", "env_download", "rotation_reveal")
ACTION_LABELS = {
    "reveal": "revealed",
    "copy": "copied",
    "env_download": "downloaded in .env",
    "rotation_reveal": "saw after a rotation",
}
# Audit actions after which the stored password is a new one.
PASSWORD_CHANGES = ("rotation_promoted", "password_set")


@dataclass
class Exposure:
    instance: Instance
    events: list[AuditEvent] = field(default_factory=list)
    changed_at: dt.datetime | None = None  # the instance's last password change

    @property
    def last_seen(self) -> dt.datetime:
        return max(event.created_at for event in self.events)

    @property
    def seen(self) -> list[tuple[str, dt.datetime]]:
        """(what they did, when) for each time they were handed the password."""
        return [(ACTION_LABELS[event.action], event.created_at) for event in self.events]

    @property
    def needs_rotation(self) -> bool:
        """They saw the password that is stored now."""
        return self.changed_at is None or self.last_seen > self.changed_at


def exposures(team: Team, user: User) -> list[Exposure]:
    """One row per instance of `team` whose password `user` was handed, by instance name."""
    events = (
        AuditEvent.objects.filter(
            team=team, actor=user, action__in=EXPOSING_ACTIONS, outcome="ok", instance__isnull=False
        )
        .select_related("instance")
        .order_by("created_at", "id")
    )
    rows: dict[int, Exposure] = {}
    for event in events:
        assert event.instance is not None
        rows.setdefault(event.instance.pk, Exposure(event.instance)).events.append(event)
    changes = (
        AuditEvent.objects.filter(instance__in=rows.keys(), action__in=PASSWORD_CHANGES)
        .values("instance")
        .annotate(last=Max("created_at"))
    )
    for change in changes:
        rows[change["instance"]].changed_at = change["last"]
    return sorted(rows.values(), key=lambda row: row.instance.name)
