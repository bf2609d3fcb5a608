"""Changing a team's alert configuration: channels and settings. Every change is audited,
without the webhook URL's path or the signing secret."""

from __future__ import annotations

import secrets
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from alerts.channels.http import check_url
from alerts.delivery import attempt, claim, raise_alert
from alerts.models import Channel, ChannelKind, Delivery, TeamAlertSettings
from instances import audit
from instances.models import Team

MAX_CHANNELS_PER_TEAM = 20


class ConfigurationRefused(Exception):
    """The change was not made; the message says why."""


def _by(request: HttpRequest | None, actor_name: str) -> dict[str, Any]:
    return {"request": request} if request is not None else {"actor_name": actor_name}


def new_channel(team: Team, kind: str, target: str) -> tuple[Channel, str]:
    """A validated, unsaved channel and its signing secret ('' when the kind has none)."""
    target = target.strip()
    channel = Channel(team=team, kind=kind)
    secret = ""
    if kind == ChannelKind.EMAIL:
        try:
            validate_email(target)
        except ValidationError:
            raise ConfigurationRefused(f"{target!r} is not an e-mail address.") from None
        channel.email = channel.label = target
    elif kind in (ChannelKind.WEBHOOK, ChannelKind.SLACK):
        try:
            channel.label = check_url(target)
        except ValueError as exc:
            raise ConfigurationRefused(str(exc)) from None
        channel.seal("url_sealed", target)
        if kind == ChannelKind.WEBHOOK:
            secret = secrets.token_urlsafe(32)
            channel.seal("secret_sealed", secret)
    else:
        raise ConfigurationRefused(f"Unknown channel kind {kind!r}.")
    return channel, secret


def add_channel(
    team: Team,
    kind: str,
    target: str,
    *,
    request: HttpRequest | None = None,
    actor_name: str = "",
) -> tuple[Channel, str]:
    """Save a new channel; returns it and its signing secret, to be shown once."""
    channel, secret = new_channel(team, kind, target)
    with transaction.atomic():
        if Channel.objects.select_for_update().filter(team=team).count() >= MAX_CHANNELS_PER_TEAM:
            raise ConfigurationRefused(f"A team has at most {MAX_CHANNELS_PER_TEAM} channels.")
        channel.save()
        audit.record(
            "alert_channel_added",
            team=team,
            channel=str(channel.uid),
            kind=kind,
            label=channel.label,
            **_by(request, actor_name),
        )
    return channel, secret


def remove_channel(channel: Channel, *, request: HttpRequest | None = None, actor_name: str = ""):
    with transaction.atomic():
        audit.record(
            "alert_channel_removed",
            team=channel.team,
            channel=str(channel.uid),
            kind=channel.kind,
            label=channel.label,
            **_by(request, actor_name),
        )
        channel.delete()


def update_settings(
    settings: TeamAlertSettings,
    changes: dict[str, Any],
    *,
    request: HttpRequest | None = None,
    actor_name: str = "",
) -> None:
    changed = {k: v for k, v in changes.items() if getattr(settings, k) != v}
    if not changed:
        return
    with transaction.atomic():
        for field, value in changed.items():
            setattr(settings, field, value)
        settings.save()
        audit.record(
            "alert_settings_changed", team=settings.team, **changed, **_by(request, actor_name)
        )


def send_test(channel: Channel, *, request: HttpRequest | None = None, actor_name: str = ""):
    """Send a test alert to one channel now; the delivery, as it ended."""
    now = timezone.now()
    with transaction.atomic():
        alert = raise_alert(
            channel.team,
            None,
            "test",
            "ok",
            f"Test alert for team {channel.team.name}: this channel receives Zektor alerts.",
            now=now,
            channels=[channel],
        )
        audit.record(
            "alert_test_sent",
            team=channel.team,
            channel=str(channel.uid),
            label=channel.label,
            **_by(request, actor_name),
        )
    delivery = Delivery.objects.select_related("alert__team", "channel").get(alert=alert)
    if claim(delivery, now):  # else a sender running elsewhere already has it
        attempt(delivery, now)
    delivery.refresh_from_db()
    return delivery
