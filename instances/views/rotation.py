"""Password rotation pages for team admins: confirm (with who is connected), run with
recorded progress, show the new password once, finish a grace period, resume or undo."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.stepup import step_up_required
from instances.access import get_instance_for
from instances.models import Instance, Membership, Role, Rotation, RotationState
from instances.rotation import machine
from instances.rotation.errors import RotationError
from instances.secrets import Purpose, SecretUnavailable, open_password

GRACE_CHOICES = [
    (0, "None: remove the old password right away"),
    (300, "5 minutes"),
    (3600, "1 hour"),
    (86400, "1 day"),
    (604800, "7 days"),
]
REVEAL_KEY = "rotation-reveal"
REVEALABLE_STATES = (RotationState.PROMOTED, RotationState.GRACE, RotationState.DONE)
UNDOABLE_STATES = (
    RotationState.CREATED,
    RotationState.APPLIED,
    RotationState.VERIFIED,
    RotationState.NEEDS_ATTENTION,
)


class RotateForm(forms.Form):
    new_password = forms.CharField(
        required=False,
        strip=False,
        label="New password (optional)",
        help_text="Leave empty to generate a strong random one (recommended).",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    grace_seconds = forms.TypedChoiceField(
        coerce=int, choices=GRACE_CHOICES, initial=3600, label="Keep the old password working for"
    )

    def __init__(self, *args: Any, instance: Instance, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not instance.engine_info.dual_passwords:
            del self.fields["grace_seconds"]


def _preview(instance: Instance) -> tuple[dict[str, Any] | None, str]:
    try:
        return machine.preview(instance), ""
    except (RotationError, SecretUnavailable) as exc:
        return None, str(exc)


def _confirm_page(
    request: HttpRequest, name: str, form: RotateForm | None = None, error: str = ""
) -> HttpResponse:
    instance, membership = get_instance_for(request.user, name, Role.ADMIN)
    preview, preview_error = _preview(instance)
    context = {
        "instance": instance,
        "membership": membership,
        "tab": "rotate",
        "form": form or RotateForm(instance=instance),
        "preview": preview,
        "preview_error": preview_error,
        "unfinished": machine.unfinished(instance),
        "latest": instance.rotations.first(),
        "error": error,
    }
    return render(request, "instances/rotation.html", context, status=409 if error else 200)


@login_required
@require_http_methods(["GET", "POST"])
@step_up_required
def rotation_start(request: HttpRequest, name: str) -> HttpResponse:
    if request.method == "GET":
        return _confirm_page(request, name)
    instance, _ = get_instance_for(request.user, name, Role.ADMIN)
    form = RotateForm(request.POST, instance=instance)
    if not form.is_valid():
        return _confirm_page(request, name, form, "Check the form.")
    try:
        rotation = machine.start(
            instance,
            request=request,
            new_password=form.cleaned_data["new_password"] or None,
            grace_seconds=form.cleaned_data.get("grace_seconds", 0),
        )
    except (machine.RotationRefused, SecretUnavailable) as exc:
        return _confirm_page(request, name, RotateForm(instance=instance), str(exc))
    return _run(request, rotation, lambda: machine.advance(rotation, request=request))


def _run(request: HttpRequest, rotation: Rotation, step: Callable[[], Rotation]) -> HttpResponse:
    """Take steps; allow one reveal when the new password became the stored one just now."""
    before = rotation.state
    try:
        rotation = step()
    except SecretUnavailable as exc:
        messages.error(request, str(exc))
        return redirect("rotation-detail", rotation.instance.name, rotation.uid)
    promoted_now = before not in REVEALABLE_STATES and rotation.state in REVEALABLE_STATES
    if promoted_now:
        request.session[REVEAL_KEY] = str(rotation.uid)
    return redirect("rotation-detail", rotation.instance.name, rotation.uid)


def _rotation_for(
    request: HttpRequest, name: str, uid: UUID
) -> tuple[Instance, Membership, Rotation]:
    instance, membership = get_instance_for(request.user, name, Role.ADMIN)
    rotation = get_object_or_404(instance.rotations.select_related("instance"), uid=uid)
    return instance, membership, rotation


def _can_reveal(request: HttpRequest, instance: Instance, rotation: Rotation) -> bool:
    latest = instance.rotations.first()
    return (
        request.session.get(REVEAL_KEY) == str(rotation.uid)
        and rotation.state in REVEALABLE_STATES
        and latest is not None
        and latest.pk == rotation.pk
    )


@login_required
@require_GET
def rotation_detail(request: HttpRequest, name: str, uid: UUID) -> HttpResponse:
    instance, membership, rotation = _rotation_for(request, name, uid)
    context = {
        "instance": instance,
        "membership": membership,
        "tab": "rotate",
        "rotation": rotation,
        "steps": machine.transitions(rotation).select_related("actor"),
        "can_reveal": _can_reveal(request, instance, rotation),
        "can_undo": rotation.state in UNDOABLE_STATES,
    }
    return render(request, "instances/rotation_detail.html", context)


@login_required
@require_POST
def rotation_resume(request: HttpRequest, name: str, uid: UUID) -> HttpResponse:
    _, _, rotation = _rotation_for(request, name, uid)
    return _run(request, rotation, lambda: machine.advance(rotation, request=request))


@login_required
@require_POST
def rotation_finish(request: HttpRequest, name: str, uid: UUID) -> HttpResponse:
    _, _, rotation = _rotation_for(request, name, uid)
    return _run(
        request, rotation, lambda: machine.advance(rotation, request=request, finish_grace=True)
    )


@login_required
@require_POST
def rotation_undo(request: HttpRequest, name: str, uid: UUID) -> HttpResponse:
    _, _, rotation = _rotation_for(request, name, uid)
    try:
        machine.Machine(rotation, request=request).undo()
    except (machine.RotationRefused, SecretUnavailable) as exc:
        messages.error(request, str(exc))
    return redirect("rotation-detail", name, uid)


@login_required
@require_POST
@step_up_required
def rotation_reveal(request: HttpRequest, name: str, uid: UUID) -> HttpResponse:
    instance, membership, rotation = _rotation_for(request, name, uid)
    if not _can_reveal(request, instance, rotation):
        messages.info(
            request,
            "The new password is shown only once, right after the rotation. Members can "
            "reveal the current password on the Settings tab.",
        )
        return redirect("rotation-detail", name, uid)
    try:
        password = open_password(
            instance, Purpose.ROTATION_REVEAL, request=request, rotation=str(rotation.uid)
        )
    except SecretUnavailable as exc:
        messages.error(request, str(exc))
        return redirect("rotation-detail", name, uid)
    del request.session[REVEAL_KEY]
    context = {
        "instance": instance,
        "membership": membership,
        "tab": "rotate",
        "rotation": rotation,
        "password": password,
    }
    return render(request, "instances/rotation_reveal.html", context)


@login_required
@require_GET
def rotation_progress(request: HttpRequest, name: str) -> JsonResponse:
    """The latest rotation's recorded steps, polled by the page while a rotation runs."""
    instance, _ = get_instance_for(request.user, name, Role.ADMIN)
    rotation = instance.rotations.first()
    if rotation is None:
        return JsonResponse({"state": None, "steps": []})
    steps = [
        {"action": step.action, "at": step.created_at.isoformat(), "outcome": step.outcome}
        for step in machine.transitions(rotation)
    ]
    return JsonResponse(
        {"rotation": str(rotation.uid), "state": rotation.get_state_display(), "steps": steps}
    )
