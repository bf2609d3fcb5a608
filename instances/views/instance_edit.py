"""Team admins add, edit, archive and delete instances with one form, and test the form's
unsaved values first. Thin over instances.instance_changes and instances.checks.runs (the
same per-process bound as the Connection test)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django_ratelimit.core import is_ratelimited
from django_ratelimit.exceptions import Ratelimited

from instances import instance_changes
from instances.access import get_instance_for, get_team_for
from instances.checks import runs
from instances.forms import PortalInstanceForm
from instances.models import Instance, Membership, Role
from instances.secrets import SecretUnavailable
from instances.views import rate_limited
from instances.views.checks import (
    CHECK_RATE,
    CHECK_RATE_GROUP,
    busy_response,
    display_steps,
    stream,
)


def _form(request: HttpRequest, instance: Instance | None = None, **initial) -> PortalInstanceForm:
    data = (request.POST, request.FILES) if request.method == "POST" else ()
    return PortalInstanceForm(*data, instance=instance, initial=initial, user=request.user)


def _form_page(
    request: HttpRequest, form: PortalInstanceForm, membership: Membership, **context
) -> HttpResponse:
    status = 400 if form.is_bound else 200
    context = {"form": form, "membership": membership, "steps": display_steps(None), **context}
    return render(request, "instances/edit.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def instance_new(request: HttpRequest, team_id: int) -> HttpResponse:
    team, membership = get_team_for(request.user, team_id, Role.ADMIN)
    form = _form(request, team=team)
    if form.is_bound and form.is_valid():
        instance = instance_changes.save(form, request)
        messages.success(request, f"{instance.name} was added to {instance.team.name}.")
        return redirect("instance-settings", instance.name)
    return _form_page(request, form, membership, team=team)


@login_required
@require_http_methods(["GET", "POST"])
def instance_edit(request: HttpRequest, name: str) -> HttpResponse:
    instance, membership = get_instance_for(request.user, name, Role.ADMIN)
    form = _form(request, instance)
    if form.is_bound and form.is_valid():
        instance = instance_changes.save(form, request)
        messages.success(request, f"The changes to {instance.name} were saved.")
        return redirect("instance-settings", instance.name)
    stored = instance_changes.stored(instance)
    return _form_page(request, form, membership, instance=stored, team=instance.team, tab="edit")


@login_required
@require_POST
def draft_test_new(request: HttpRequest, team_id: int) -> HttpResponseBase:
    get_team_for(request.user, team_id, Role.ADMIN)
    return _draft_test(request, _form(request))


@login_required
@require_POST
def draft_test_edit(request: HttpRequest, name: str) -> HttpResponseBase:
    instance, _ = get_instance_for(request.user, name, Role.ADMIN)
    return _draft_test(request, _form(request, instance))


def _draft_test(request: HttpRequest, form: PortalInstanceForm) -> HttpResponseBase:
    """The Connection test's NDJSON stream for the form's values; nothing is stored. Values
    the form refuses answer 400 with what to fix, as text."""
    if is_ratelimited(request, group=CHECK_RATE_GROUP, key="user", rate=CHECK_RATE, increment=True):
        return rate_limited(request, Ratelimited())
    if not form.is_valid():
        text = "Fix these first, then test again. " + _problems(form)
        return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")
    try:
        run = runs.begin_draft(lambda: instance_changes.draft_check(form))
    except runs.Busy as busy:
        return busy_response(busy)
    except SecretUnavailable as problem:
        return HttpResponse(str(problem), status=503, content_type="text/plain; charset=utf-8")
    return stream(run)


def _problems(form: PortalInstanceForm) -> str:
    lines = []
    for field, errors in form.errors.get_json_data(escape_html=False).items():
        label = form[field].label if field in form.fields else "Form"
        lines.append(f"{label}: {' '.join(str(error['message']) for error in errors)}")
    return " ".join(lines)


@login_required
@require_POST
def instance_archive(request: HttpRequest, name: str) -> HttpResponse:
    instance, _ = get_instance_for(request.user, name, Role.ADMIN)
    archive = request.POST.get("archived") != "false"
    instance_changes.set_archived(instance, archive, request)
    done = "archived: it is no longer listed" if archive else "restored to the team's lists"
    messages.success(request, f"{instance.name} was {done}.")
    return redirect("instance-settings", instance.name)


@login_required
@require_http_methods(["GET", "POST"])
def instance_delete(request: HttpRequest, name: str) -> HttpResponse:
    """Asks for the instance's name to confirm; refused while a rotation is unfinished."""
    instance, membership = get_instance_for(request.user, name, Role.ADMIN)
    error = ""
    if request.method == "POST":
        if request.POST.get("confirm_name", "").strip() != instance.name:
            error = f"Type the instance's name, {instance.name}, to confirm."
        else:
            try:
                instance_changes.delete(instance, request)
            except instance_changes.DeleteRefused as refused:
                error = str(refused)
            else:
                messages.success(request, f"{name} was deleted. Its audit records remain.")
                return redirect("instance-list")
    context = {"instance": instance, "membership": membership, "tab": "edit", "error": error}
    status = 400 if error else 200
    return render(request, "instances/delete.html", context, status=status)
