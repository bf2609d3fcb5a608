"""The daily digest: teams that take one get the day's alerts in one message. Which
process sends it is decided by a conditional UPDATE of ``last_digest_at``."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from alerts.delivery import raise_alert
from alerts.models import Alert, TeamAlertSettings

PERIOD = dt.timedelta(days=1)
QUIET_EVENTS = ("digest", "test")


def _claim(settings: TeamAlertSettings, now: dt.datetime) -> bool:
    rows = TeamAlertSettings.objects.filter(pk=settings.pk)
    if settings.last_digest_at is None:
        rows = rows.filter(last_digest_at__isnull=True)
    else:
        rows = rows.filter(last_digest_at=settings.last_digest_at)
    return rows.update(last_digest_at=now) == 1


def digest_text(alerts: list[Alert]) -> str:
    lines = [f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''} in the last day:"]
    lines += [f"- {alert.at:%Y-%m-%d %H:%M} UTC {alert.message}" for alert in alerts]
    return "\n".join(lines)


def send_due(now: dt.datetime) -> int:
    """Queue the digest of every team whose day is over; how many were queued."""
    queued = 0
    due = TeamAlertSettings.objects.filter(daily_digest=True).select_related("team")
    for settings in due:
        since = settings.last_digest_at or now - PERIOD
        if settings.last_digest_at and now - settings.last_digest_at < PERIOD:
            continue
        with transaction.atomic():
            if not _claim(settings, now):
                continue
            alerts = list(
                Alert.objects.filter(team=settings.team, at__gt=since, at__lte=now)
                .exclude(event__in=QUIET_EVENTS)
                .order_by("at", "id")
            )
            if not alerts:
                continue
            worst = "fail" if any(a.status == "fail" for a in alerts) else "warn"
            channels = list(settings.team.alert_channels.all())
            raise_alert(
                settings.team,
                None,
                "digest",
                worst,
                digest_text(alerts),
                now=now,
                channels=channels,
            )
            queued += 1
    return queued
