"""The alert state of an instance, as badges for the instance list and pages."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from alerts.events import CERTIFICATE_BANDS
from alerts.models import Topic
from instances.models import Instance

register = template.Library()

CERTIFICATE_WARN_DAYS = CERTIFICATE_BANDS[-1][1].days
PROBLEMS: dict[tuple[str, str], tuple[str, str]] = {
    (Topic.ROTATION, "stuck"): ("warn", "Rotation stuck"),
    (Topic.ROTATION, "failed"): ("fail", "Rotation needs attention"),
    (Topic.PASSWORD_AGE, "overdue"): ("warn", "Password older than policy"),
}


@register.inclusion_tag("alerts/_state.html")
def alert_state(instance: Instance) -> dict[str, Any]:
    """Uses ``instance.alert_states`` as prefetched when the view did so."""
    states = {state.topic: state for state in instance.alert_states.all()}
    availability = states.get(Topic.AVAILABILITY)
    failing = availability if availability and availability.state == "failing" else None
    days_left = None
    if instance.cert_not_after is not None:
        days_left = (instance.cert_not_after - timezone.now()).days
    badges = [
        PROBLEMS[(s.topic, s.state)] for s in states.values() if (s.topic, s.state) in PROBLEMS
    ]
    return {
        "failing": failing,
        "failing_since": failing and (failing.first_failure_at or failing.since),
        "days_left": days_left,
        "certificate_level": _certificate_level(days_left),
        "badges": badges,
    }


def _certificate_level(days_left: int | None) -> str:
    if days_left is None or days_left > CERTIFICATE_WARN_DAYS:
        return "ok"
    return "fail" if days_left <= 1 else "warn"
