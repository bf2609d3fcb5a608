"""What is worth an alert. Each topic of an instance has a state in the portal's database;
a change to a worse state raises one alert, a return to normal raises at most one (only
``recovered``), and nothing repeats while a state holds. The state row is locked
(SELECT ... FOR UPDATE; SQLite's BEGIN IMMEDIATE) while a change is decided and the
alert queued, so two processes seeing the same change alert once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.db import transaction

from alerts.delivery import raise_alert
from alerts.models import AlertState, TeamAlertSettings, Topic
from instances.checks.report import FAIL, Report
from instances.models import AuditEvent, Instance, Rotation, RotationState, Status, Team
from instances.rotation.machine import unfinished

# (state, remaining validity at most): the worst band that applies is the state.
CERTIFICATE_BANDS = [
    ("expired", dt.timedelta(0)),
    ("1", dt.timedelta(days=1)),
    ("7", dt.timedelta(days=7)),
    ("14", dt.timedelta(days=14)),
]
SEVERITY: dict[str, dict[str, int]] = {
    Topic.CERTIFICATE: {"ok": 0, "14": 1, "7": 2, "1": 3, "expired": 4},
    Topic.ROTATION: {"ok": 0, "stuck": 1, "failed": 2},
    Topic.PASSWORD_AGE: {"ok": 0, "overdue": 1},
}
# An unfinished rotation that has not moved for this long (or a grace period over by this
# much) is stuck: the process that ran it died, or nobody ends the grace period.
STUCK_AFTER = dt.timedelta(minutes=30)
# The audit actions after which an instance's stored password is a new one.
PASSWORD_SET_ACTIONS = ("rotation_promoted", "password_set")

Alerting = Callable[[], tuple[str, str, str]]  # () -> (event, status, message)


def settings_for(team: Team) -> TeamAlertSettings:
    """The team's alert settings, or the defaults (unsaved) when it has none yet."""
    return TeamAlertSettings.objects.filter(team=team).first() or TeamAlertSettings(team=team)


def _locked(instance: Instance, topic: str, now: dt.datetime) -> AlertState:
    row, _ = AlertState.objects.get_or_create(
        instance=instance, topic=topic, defaults={"since": now}
    )
    return AlertState.objects.select_for_update().get(pk=row.pk)


def _alert(state: AlertState, alerting: Alerting, now: dt.datetime) -> None:
    event, status, message = alerting()
    raise_alert(state.instance.team, state.instance, event, status, message, now=now)


def _move(state: AlertState, new: str, now: dt.datetime) -> None:
    if state.state != new:
        state.state, state.since = new, now


def escalate(
    instance: Instance, topic: str, new: str, now: dt.datetime, alerting: Alerting
) -> None:
    """Set the topic's state; alert only when it got worse than it was."""
    severity = SEVERITY[topic]
    with transaction.atomic():
        state = _locked(instance, topic, now)
        if severity[new] > severity.get(state.state, 0):
            _alert(state, alerting, now)
        _move(state, new, now)
        state.save()


def observe_availability(instance: Instance, report: Report, now: dt.datetime) -> None:
    """Failing after the team's number of failed checks in a row; recovered at the first
    check that passes again."""
    if instance.status != Status.ACTIVE:
        return  # a suspended or resizing instance is expected to be unreachable
    threshold = settings_for(instance.team).failure_threshold
    with transaction.atomic():
        state = _locked(instance, Topic.AVAILABILITY, now)
        if report.status == FAIL:
            state.consecutive_failures += 1
            state.first_failure_at = state.first_failure_at or report.started_at
            if state.state == "ok" and state.consecutive_failures >= threshold:
                _alert(state, lambda: failing(instance, state, report), now)
                _move(state, "failing", now)
        else:
            if state.state == "failing":
                _alert(state, lambda: recovered(instance, state), now)
                _move(state, "ok", now)
            state.consecutive_failures, state.first_failure_at = 0, None
        state.save()


def failing(instance: Instance, state: AlertState, report: Report) -> tuple[str, str, str]:
    step = next(step for step in report.steps if step.status == FAIL)
    since = state.first_failure_at or report.started_at
    return (
        "failing",
        "fail",
        f"{instance.name} is failing: {state.consecutive_failures} checks in a row failed "
        f"since {since:%Y-%m-%d %H:%M} UTC. {step.name}: {step.message}",
    )


def recovered(instance: Instance, state: AlertState) -> tuple[str, str, str]:
    return (
        "recovered",
        "ok",
        f"{instance.name} works again (failing since {state.since:%Y-%m-%d %H:%M} UTC).",
    )


def certificate_band(not_after: dt.datetime, now: dt.datetime) -> str:
    remaining = not_after - now
    return next((band for band, limit in CERTIFICATE_BANDS if remaining <= limit), "ok")


def observe_certificate(instance: Instance, not_after: dt.datetime, now: dt.datetime) -> None:
    band = certificate_band(not_after, now)
    days = (not_after - now).days

    def alerting() -> tuple[str, str, str]:
        when = f"{not_after:%Y-%m-%d %H:%M} UTC"
        if band == "expired":
            return (
                "certificate_expired",
                "fail",
                f"The certificate of {instance.name} expired on {when}.",
            )
        status = "fail" if band == "1" else "warn"
        return (
            "certificate_expiring",
            status,
            f"The certificate of {instance.name} expires in {days} days, on {when}: "
            "renew it before clients refuse to connect.",
        )

    escalate(instance, Topic.CERTIFICATE, band, now, alerting)


def rotation_state(rotation: Rotation | None, now: dt.datetime) -> str:
    if rotation is None:
        return "ok"
    if rotation.state == RotationState.NEEDS_ATTENTION:
        return "failed"
    if rotation.state == RotationState.GRACE and rotation.grace_until:
        return "stuck" if rotation.grace_until + STUCK_AFTER < now else "ok"
    return "stuck" if rotation.updated_at + STUCK_AFTER < now else "ok"


def observe_rotation(instance: Instance, now: dt.datetime) -> None:
    rotation = unfinished(instance)
    new = rotation_state(rotation, now)

    def alerting() -> tuple[str, str, str]:
        assert rotation is not None  # only a worse state than "ok" alerts
        if new == "failed":
            return (
                "rotation_failed",
                "fail",
                f"The password rotation of {instance.name} needs attention: {rotation.reason}",
            )
        return (
            "rotation_stuck",
            "warn",
            f"The password rotation of {instance.name} has been "
            f"{rotation.get_state_display().lower()} since "
            f"{rotation.updated_at:%Y-%m-%d %H:%M} UTC: resume or undo it.",
        )

    escalate(instance, Topic.ROTATION, new, now, alerting)


def password_set_at(instance: Instance) -> dt.datetime:
    event = (
        AuditEvent.objects.filter(instance=instance, action__in=PASSWORD_SET_ACTIONS, outcome="ok")
        .order_by("-created_at")
        .first()
    )
    return event.created_at if event else instance.created_at


def observe_password_age(instance: Instance, now: dt.datetime) -> None:
    policy = settings_for(instance.team).rotation_policy_days
    age = now - password_set_at(instance)
    new = "overdue" if policy and age > dt.timedelta(days=policy) else "ok"

    def alerting() -> tuple[str, str, str]:
        return (
            "password_overdue",
            "warn",
            f"The password of {instance.name} is {age.days} days old; the team rotates "
            f"passwords every {policy} days.",
        )

    escalate(instance, Topic.PASSWORD_AGE, new, now, alerting)
