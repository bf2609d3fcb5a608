"""Raising an alert and delivering it to every channel of the team: each delivery is
claimed by one process at a time (a conditional UPDATE), failures are retried with
growing pauses, logged and kept for the channels page, never raised to the caller."""

from __future__ import annotations

import datetime as dt
import logging
import time

from django.db.models import F, Q
from django.utils import timezone

from alerts.channels import DeliveryError, Message, transport_for
from alerts.models import Alert, Channel, Delivery, DeliveryStatus
from instances.models import Instance, Team
from instances.secrets import SecretUnavailable

logger = logging.getLogger("alerts")

# Pause before attempt 2, 3, ...: a channel down for a day still gets the alert.
BACKOFF = [dt.timedelta(minutes=m) for m in (1, 5, 15, 60, 180, 360, 720)]
MAX_ATTEMPTS = len(BACKOFF) + 1
# How long a claim holds: longer than any send takes, so a crashed sender's delivery
# is picked up again but a slow one is not sent twice.
LEASE = dt.timedelta(minutes=2)
SEND_BUDGET_SECONDS = 60.0


def raise_alert(
    team: Team,
    instance: Instance | None,
    event: str,
    status: str,
    message: str,
    *,
    now: dt.datetime,
    channels: list[Channel] | None = None,
) -> Alert:
    """Record the alert and queue it for ``channels`` (default: the team's, unless the
    team takes a daily digest). Call inside the transaction that claimed the change."""
    alert = Alert.objects.create(
        team=team,
        instance=instance,
        instance_name=instance.name if instance else "",
        event=event,
        status=status,
        message=message,
        at=now,
    )
    if channels is None:
        settings = getattr(team, "alert_settings", None)
        channels = [] if settings and settings.daily_digest else list(team.alert_channels.all())
    Delivery.objects.bulk_create(
        Delivery(alert=alert, channel=channel, next_attempt_at=now) for channel in channels
    )
    logger.info("alert %s %s %s: %s", team.name, alert.instance_name or "-", event, message)
    return alert


def message_of(alert: Alert) -> Message:
    return Message(
        id=str(alert.uid),
        team=alert.team.name,
        instance=alert.instance_name,
        event=alert.event,
        status=alert.status,
        message=alert.message,
        at=alert.at,
    )


def claim(delivery: Delivery, now: dt.datetime) -> bool:
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    claimed = (
        Delivery.objects.filter(free, pk=delivery.pk, status=DeliveryStatus.PENDING)
        .filter(attempts=delivery.attempts)
        .update(claimed_until=now + LEASE, attempts=F("attempts") + 1)
    )
    return claimed == 1


def attempt(delivery: Delivery, now: dt.datetime) -> bool:
    """Send one claimed delivery; True when the channel took it."""
    attempts = delivery.attempts + 1
    try:
        transport_for(delivery.channel).send(message_of(delivery.alert))
    except Exception as exc:  # a broken channel must never stop the others
        # Only these two say why in words that hold no secret; anything else, its type.
        known = isinstance(exc, DeliveryError | SecretUnavailable)
        reason = str(exc) if known else type(exc).__name__
        done = attempts >= MAX_ATTEMPTS
        logger.warning(
            "alert delivery %s to %s failed (attempt %d%s): %s",
            delivery.alert.uid,
            delivery.channel.label,
            attempts,
            ", giving up" if done else "",
            reason,
        )
        Delivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.FAILED if done else DeliveryStatus.PENDING,
            last_error=reason[:300],
            claimed_until=None,
            next_attempt_at=now + BACKOFF[min(attempts, len(BACKOFF)) - 1],
        )
        return False
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.SENT, sent_at=timezone.now(), last_error="", claimed_until=None
    )
    return True


def due(now: dt.datetime):
    return (
        Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .select_related("alert__team", "channel")
        .order_by("next_attempt_at", "id")
    )


def deliver_due(
    now: dt.datetime | None = None, budget_seconds: float = SEND_BUDGET_SECONDS
) -> tuple[int, int]:
    """Send what is due, oldest first, until the budget is spent: (sent, failed)."""
    now = now or timezone.now()
    deadline = time.monotonic() + budget_seconds
    sent = failed = 0
    for delivery in due(now)[:500]:
        if time.monotonic() > deadline:
            break
        if not claim(delivery, now):
            continue  # another process has it
        if attempt(delivery, now):
            sent += 1
        else:
            failed += 1
    return sent, failed
