"""Adding, changing, archiving and deleting instances in the portal (team admins), audited;
and the connection test of unsaved values ("Test before saving"), which stores nothing."""

from __future__ import annotations

from typing import Any

from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone

from instances.audit import WATCHED_FIELDS, record, record_instance_change, shown
from instances.checks.runner import ConnectionCheck
from instances.engines import target_for
from instances.forms import InstanceForm
from instances.models import Instance
from instances.rotation import machine
from instances.secrets import Purpose, open_password

VIA = "portal"
# Every field the portal form edits, except the password (never in a record).
AUDITED_FIELDS = ("name", "engine", "tier", "status", "username", "database", *WATCHED_FIELDS)


class DeleteRefused(Exception):
    """The instance cannot be deleted now; the message says why and what to do."""


def stored(instance: Instance) -> Instance | None:
    """The saved row of `instance` before a form changed it (None for a new instance)."""
    if instance.pk is None:
        return None
    return Instance.objects.select_related("team").get(pk=instance.pk)


def save(form: InstanceForm, request: HttpRequest) -> Instance:
    before = stored(form.instance)
    with transaction.atomic():
        instance = form.save()
        record_saved(before, instance, form.password_changed, request=request, via=VIA)
    return instance


def record_saved(
    before: Instance | None,
    after: Instance,
    password_changed: bool,
    fields: tuple[str, ...] = AUDITED_FIELDS,
    **kwargs: Any,
) -> None:
    """instance_created (its `fields`) or instance_changed (those of `fields` that changed,
    before -> after), and password_set when a new password was typed. Never a secret."""
    if before is None:
        values = {field: shown(after, field) for field in fields}
        record("instance_created", instance=after, fields=values, **kwargs)
        return
    record_instance_change(before, after, fields, **kwargs)
    if password_changed:
        record("password_set", instance=after, **kwargs)


def draft_check(form: InstanceForm) -> ConnectionCheck:
    """A check of the form's unsaved values (call after `form.is_valid()`): the typed
    password, else the stored one, which the form only allows at the stored host and port
    (SecretUnavailable when it cannot be opened). The run goes through the same engine and
    road out as any check; nothing is saved."""
    draft = form.instance
    password = form.cleaned_data.get("new_password") or open_password(
        draft, Purpose.CONNECTION_TEST
    )
    return ConnectionCheck(target_for(draft, password))


def set_archived(instance: Instance, archived: bool, request: HttpRequest) -> None:
    """Archived instances keep their settings and history but leave the team's lists."""
    if archived == (instance.archived_at is not None):
        return
    instance.archived_at = timezone.now() if archived else None
    instance.save(update_fields=["archived_at", "updated_at"])
    action = "instance_archived" if archived else "instance_restored"
    record(action, request=request, instance=instance, via=VIA)


def delete(instance: Instance, request: HttpRequest) -> None:
    unfinished = machine.unfinished(instance)
    if unfinished is not None:
        raise DeleteRefused(
            f"{instance.name} has an unfinished password rotation "
            f"({unfinished.get_state_display().lower()}), which may hold the only working "
            "password: finish or undo it before deleting the instance."
        )
    try:
        with transaction.atomic():
            record("instance_deleted", request=request, instance=instance, via=VIA)
            instance.delete()
    except models.ProtectedError as error:  # a rotation started meanwhile
        raise DeleteRefused(error.args[0]) from None
