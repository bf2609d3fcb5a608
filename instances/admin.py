"""Django admin: teams and memberships, instances with a write-only password, and
read-only views of check runs, rotations (without secrets) and the audit log."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from instances.audit import WATCHED_FIELDS, memberships_of, record, record_membership_changes
from instances.forms import InstanceForm
from instances.instance_changes import record_saved, stored
from instances.models import AuditEvent, CheckRun, Instance, Membership, Rotation, Team

VIA = "django-admin"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable by staff with the view permission; nobody adds or changes rows here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]

    def save_model(self, request: HttpRequest, obj: Team, form, change: bool) -> None:
        before = Team.objects.get(pk=obj.pk).name if change else None
        super().save_model(request, obj, form, change)
        if before is None:
            record("team_created", request=request, team=obj, name=obj.name, via=VIA)
        elif before != obj.name:
            name = {"before": before, "after": obj.name}
            record("team_changed", request=request, team=obj, name=name, via=VIA)

    def delete_model(self, request: HttpRequest, obj: Team) -> None:
        record("team_deleted", request=request, team=obj, name=obj.name, via=VIA)
        record_membership_changes(obj, memberships_of(obj), {}, request=request, via=VIA)
        super().delete_model(request, obj)

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        """Memberships saved through the inline are audited: added, role changed, removed."""
        team = form.instance
        before = memberships_of(team) if change else {}
        super().save_related(request, form, formsets, change)
        record_membership_changes(team, before, memberships_of(team), request=request, via=VIA)


@admin.register(Instance)
class InstanceAdmin(admin.ModelAdmin):
    form = InstanceForm
    list_display = ["name", "team", "engine", "tier", "status", "host", "last_check_status"]
    list_filter = ["engine", "tier", "status", "team"]
    search_fields = ["name", "host"]

    def save_model(self, request: HttpRequest, obj: Instance, form: InstanceForm, change: bool):
        before = stored(obj) if change else None
        super().save_model(request, obj, form, change)
        record_saved(before, obj, form.password_changed, WATCHED_FIELDS, request=request, via=VIA)

    def delete_model(self, request: HttpRequest, obj: Instance) -> None:
        record("instance_deleted", request=request, instance=obj, via=VIA)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Instance]) -> None:
        for instance in queryset:
            record("instance_deleted", request=request, instance=instance, via=VIA)
        super().delete_queryset(request, queryset)


@admin.register(CheckRun)
class CheckRunAdmin(ReadOnlyAdmin):
    list_display = ["instance", "started_at", "status", "duration_ms", "actor"]
    list_filter = ["status"]
    search_fields = ["instance__name"]


ROTATION_FIELDS = (
    "uid",
    "instance",
    "actor",
    "state",
    "grace_seconds",
    "grace_until",
    "reason",
    "created_at",
    "updated_at",
)


@admin.register(Rotation)
class RotationAdmin(ReadOnlyAdmin):
    fields = readonly_fields = ROTATION_FIELDS
    list_display = ["instance", "state", "created_at", "updated_at", "actor"]
    list_filter = ["state"]
    search_fields = ["instance__name"]

    def has_delete_permission(self, request: HttpRequest, obj: Rotation | None = None) -> bool:
        """An unfinished rotation may hold the only working password: never delete it."""
        if obj is not None and not obj.finished:
            return False
        return super().has_delete_permission(request, obj)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor_name", "action", "instance_name", "outcome"]
    list_filter = ["action", "outcome", "team"]
    search_fields = ["actor_name", "instance_name", "action"]
    date_hierarchy = "created_at"

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
