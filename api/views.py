"""The Tokens page of a team, for its admins: create (the token is shown once, after a fresh
proof), list with scopes, expiry and last use, revoke. Every change is a POST with CSRF and
audited."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts.stepup import step_up_required
from api import tokens
from api.models import Scope
from instances.access import get_team_for
from instances.models import Role, Team


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=tokens.MAX_NAME_LENGTH,
        help_text="What uses it, e.g. “deploy pipeline”.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[Scope.SETTINGS],
        help_text="Give a token only what its job needs.",
    )
    days = forms.IntegerField(
        min_value=1,
        max_value=tokens.MAX_DAYS,
        initial=tokens.DEFAULT_DAYS,
        label="Expires after (days)",
    )


def _page(
    request: HttpRequest, team: Team, form: TokenForm, issued: tokens.IssuedToken | None = None
) -> HttpResponse:
    context = {
        "team": team,
        "form": form,
        "issued": issued,
        "tokens": team.api_tokens.select_related("created_by"),
    }
    return render(request, "api/tokens.html", context, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
@step_up_required
def team_tokens(request: HttpRequest, team_id: int) -> HttpResponse:
    """The page; a POST creates a token and answers with the page itself (no redirect), so
    the token lives in this one response only. A token may be scoped to reveal passwords,
    so creating one needs the same fresh proof as a reveal."""
    team, _ = get_team_for(request.user, team_id, Role.ADMIN)
    if request.method == "GET":
        return _page(request, team, TokenForm())
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _page(request, team, form)
    try:
        issued = tokens.issue(
            team,
            form.cleaned_data["name"],
            form.cleaned_data["scopes"],
            days=form.cleaned_data["days"],
            created_by=request.user,
            request=request,
        )
    except tokens.TokenRefused as refused:
        form.add_error("name", str(refused))
        return _page(request, team, form)
    return _page(request, team, TokenForm(), issued)


@login_required
@require_POST
def revoke_token(request: HttpRequest, team_id: int, token_id: int) -> HttpResponse:
    team, _ = get_team_for(request.user, team_id, Role.ADMIN)
    token = get_object_or_404(team.api_tokens, pk=token_id)
    if tokens.revoke(token, request=request):
        messages.success(request, f"Token “{token.name}” is revoked: it no longer works.")
    else:
        messages.info(request, f"Token “{token.name}” was revoked already.")
    return redirect("team-tokens", team.pk)


@csrf_exempt  # answers every method with the same 404: nothing to protect
def api_not_found(request: HttpRequest, *args: object) -> JsonResponse:
    detail = "No such API endpoint. The schema is at /api/v1/openapi.json."
    return JsonResponse({"error": "not_found", "detail": detail}, status=404)
