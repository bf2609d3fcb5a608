"""The alerts page of a team, for its admins: channels, settings, recent alerts."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from alerts import configure
from alerts.events import settings_for
from alerts.forms import AlertSettingsForm, ChannelForm
from alerts.models import Alert, Channel
from instances.access import get_team_for
from instances.models import Role, Team

RECENT_ALERTS = 20


def _page(request: HttpRequest, team: Team, status: int = 200, **context) -> HttpResponse:
    channels = [(channel, channel.last_delivery) for channel in team.alert_channels.all()]
    settings = settings_for(team)
    context = {
        "team": team,
        "channels": channels,
        "channel_form": ChannelForm(),
        "settings_form": AlertSettingsForm(instance=settings),
        "alerts": Alert.objects.filter(team=team).prefetch_related("deliveries")[:RECENT_ALERTS],
        **context,
    }
    return render(request, "alerts/channels.html", context, status=status)


@login_required
@require_GET
def alert_channels(request: HttpRequest, team_id: int) -> HttpResponse:
    team, _ = get_team_for(request.user, team_id, Role.ADMIN)
    return _page(request, team)


@login_required
@require_POST
def channel_add(request: HttpRequest, team_id: int) -> HttpResponse:
    team, _ = get_team_for(request.user, team_id, Role.ADMIN)
    form = ChannelForm(request.POST)
    if not form.is_valid():
        return _page(request, team, 400, channel_form=form)
    try:
        channel, secret = configure.add_channel(
            team, form.cleaned_data["kind"], form.cleaned_data["target"], request=request
        )
    except configure.ConfigurationRefused as exc:
        form.add_error("target", str(exc))
        return _page(request, team, 400, channel_form=form)
    if secret:
        # Shown in this response only: never in a redirect, a message cookie or the session.
        return _page(request, team, added=channel, signing_secret=secret)
    messages.success(request, f"Added {channel.get_kind_display()} {channel.label}.")
    return redirect("team-alerts", team.pk)


def _channel(request: HttpRequest, team_id: int, uid: UUID) -> Channel:
    team, _ = get_team_for(request.user, team_id, Role.ADMIN)
    return get_object_or_404(Channel, team=team, uid=uid)


@login_required
@require_POST
def channel_remove(request: HttpRequest, team_id: int, uid: UUID) -> HttpResponse:
    channel = _channel(request, team_id, uid)
    configure.remove_channel(channel, request=request)
    messages.success(request, f"Removed {channel.get_kind_display()} {channel.label}.")
    return redirect("team-alerts", team_id)


@login_required
@require_POST
def channel_test(request: HttpRequest, team_id: int, uid: UUID) -> HttpResponse:
    channel = _channel(request, team_id, uid)
    delivery = configure.send_test(channel, request=request)
    if delivery.status == "sent":
        messages.success(request, f"Test alert sent to {channel.label}.")
    else:
        messages.error(
            request,
            f"The test alert to {channel.label} failed: {delivery.last_error or 'busy'}. "
            "It will be retried.",
        )
    return redirect("team-alerts", team_id)


@login_required
@require_POST
def settings_update(request: HttpRequest, team_id: int) -> HttpResponse:
    team, _ = get_team_for(request.user, team_id, Role.ADMIN)
    form = AlertSettingsForm(request.POST, instance=settings_for(team))
    if not form.is_valid():
        return _page(request, team, 400, settings_form=form)
    # A fresh copy: validating the form already wrote the new values into its instance.
    configure.update_settings(settings_for(team), form.cleaned_data, request=request)
    messages.success(request, "Alert settings saved.")
    return redirect("team-alerts", team.pk)
