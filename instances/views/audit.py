"""The audit log of a team, for its admins: filter, page through, export as CSV."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from instances.access import get_team_for
from instances.audit import record
from instances.models import AuditEvent, Role, Team

PAGE_SIZE = 50
CSV_COLUMNS = [
    "time",
    "actor",
    "action",
    "instance",
    "client_address",
    "user_agent",
    "outcome",
    "detail",
]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(required=False)
    user = forms.CharField(required=False, max_length=150)
    instance = forms.CharField(required=False, max_length=63)
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, actions: Iterable[str] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        action = self.fields["action"]
        assert isinstance(action, forms.ChoiceField)
        action.choices = [("", "Any action")] + [(a, a) for a in actions]

    def apply(self, events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        if not self.is_valid():
            return events.none()
        data = self.cleaned_data
        if data["action"]:
            events = events.filter(action=data["action"])
        if data["user"]:
            events = events.filter(actor_name=data["user"].strip())
        if data["instance"]:
            events = events.filter(instance_name=data["instance"].strip())
        if data["date_from"]:
            events = events.filter(created_at__date__gte=data["date_from"])
        if data["date_to"]:
            events = events.filter(created_at__date__lte=data["date_to"])
        return events


def team_events(team: Team) -> QuerySet[AuditEvent]:
    """The team's events, plus failed sign-ins naming one of its members."""
    members = get_user_model().objects.filter(memberships__team=team).values("username")
    failed_logins = Q(team__isnull=True, action="login_failed", actor_name__in=members)
    return AuditEvent.objects.filter(Q(team=team) | failed_logins).select_related("actor")


def _filtered(request: HttpRequest, team: Team) -> tuple[AuditFilterForm, QuerySet[AuditEvent]]:
    events = team_events(team)
    actions = events.order_by("action").values_list("action", flat=True).distinct()
    form = AuditFilterForm(request.GET or None, actions=actions)
    return form, (form.apply(events) if request.GET else events)


@login_required
@require_GET
def audit_log(request: HttpRequest, team_id: int) -> HttpResponse | StreamingHttpResponse:
    team, membership = get_team_for(request.user, team_id, Role.ADMIN)
    if request.GET.get("format") == "csv":
        return audit_csv(request, team_id)
    form, events = _filtered(request, team)
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("format", None)
    return render(
        request,
        "instances/audit.html",
        {
            "team": team,
            "membership": membership,
            "form": form,
            "page": page,
            "query": query.urlencode(),
        },
    )


def csv_safe(value: object) -> str:
    """A cell spreadsheets will not run as a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _rows(events: QuerySet[AuditEvent]) -> Iterator[list[str]]:
    yield CSV_COLUMNS
    for event in events.iterator():
        yield [
            csv_safe(cell)
            for cell in (
                event.created_at.isoformat(),
                event.actor_name,
                event.action,
                event.instance_name,
                event.client_address,
                event.user_agent,
                event.outcome,
                json.dumps(event.detail, sort_keys=True),
            )
        ]


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
@require_GET
def audit_csv(request: HttpRequest, team_id: int) -> StreamingHttpResponse:
    team, _ = get_team_for(request.user, team_id, Role.ADMIN)
    _, events = _filtered(request, team)
    record("audit_exported", request=request, team=team, filters=request.GET.dict())
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in _rows(events)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="audit-team-{team.pk}.csv"'
    return response
