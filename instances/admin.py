"""Django admin: teams and memberships, instances with a write-only password, and
read-only views of check runs, rotations (without secrets) and the audit log."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from instances.audit import record
from instances.models import AuditEvent, CheckRun, Instance, Membership, Rotation, Team


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


class InstanceForm(forms.ModelForm):
    """The password is write-only: the field never renders the stored value."""

    new_password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only. Leave blank to keep the current password.",
    )

    class Meta:
        model = Instance
        fields = [
            "name",
            "team",
            "engine",
            "tier",
            "status",
            "host",
            "port",
            "username",
            "new_password",
            "database",
            "sslmode",
            "tls",
            "ca_cert",
            "allow_md5",
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            self.fields["new_password"].required = True
            self.fields["new_password"].help_text = "Write-only."


@admin.register(Instance)
class InstanceAdmin(admin.ModelAdmin):
    form = InstanceForm
    list_display = ["name", "team", "engine", "tier", "status", "host", "last_check_status"]
    list_filter = ["engine", "tier", "status", "team"]
    search_fields = ["name", "host"]

    def save_model(self, request: HttpRequest, obj: Instance, form: InstanceForm, change: bool):
        new_password = form.cleaned_data.get("new_password")
        if new_password:
            obj.set_password(new_password)
        super().save_model(request, obj, form, change)
        if new_password and change:
            record("password_set", request=request, instance=obj, via="django-admin")


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
