from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from instances.crypto import keyring
from instances.engines import Engine as EngineInterface
from instances.engines import engine_for
from instances.tiers import TierLimits, limits_for
from instances.validation import certificates_only, refuse_control_characters, validate_host

if TYPE_CHECKING:
    from django.db.models.options import Options


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    MEMBER = "member", "Member"
    ADMIN = "admin", "Admin"


ROLE_RANK: dict[str, int] = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2}


class Engine(models.TextChoices):
    """The names of ``instances.engines.ENGINES``, as model choices."""

    POSTGRESQL = "postgresql", "PostgreSQL"
    VALKEY = "valkey", "Valkey"


class Tier(models.TextChoices):
    STARTER = "starter", "Starter"
    STANDARD = "standard", "Standard"
    PRO = "pro", "Pro"
    BUSINESS = "business", "Business"


class Status(models.TextChoices):
    ACTIVE = "active", "Active"
    PROVISIONING = "provisioning", "Provisioning"
    RESIZING = "resizing", "Resizing"
    SUSPENDED = "suspended", "Suspended"


class SslMode(models.TextChoices):
    REQUIRE = "require", "require"
    VERIFY_CA = "verify-ca", "verify-ca"
    VERIFY_FULL = "verify-full", "verify-full"


class SealedFieldsMixin:
    """Models whose ``SEALED_FIELDS`` hold AES-GCM tokens bound to the row and field."""

    SEALED_FIELDS: tuple[str, ...] = ()
    if TYPE_CHECKING:  # from the model it is mixed into
        _meta: ClassVar[Options[Any]]
        _default_manager: ClassVar[models.Manager[Any]]
        uid: uuid.UUID

    def seal_context(self, field: str) -> str:
        return f"{self._meta.label_lower}:{self.uid}:{field}"

    def seal(self, field: str, plaintext: str) -> None:
        setattr(self, field, keyring().seal(plaintext, self.seal_context(field)))

    def unseal(self, field: str) -> str:
        return keyring().open(getattr(self, field), self.seal_context(field))


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True, validators=[refuse_control_characters])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "team"], name="one_membership_per_team")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"

    def allows(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


class Instance(SealedFieldsMixin, models.Model):
    SEALED_FIELDS = ("password_sealed",)

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.SlugField(max_length=63, unique=True)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="instances")
    engine = models.CharField(max_length=12, choices=Engine.choices)
    tier = models.CharField(max_length=10, choices=Tier.choices, default=Tier.STARTER)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)
    host = models.CharField(max_length=253, validators=[validate_host])
    port = models.PositiveIntegerField()
    username = models.CharField(max_length=63, validators=[refuse_control_characters])
    database = models.CharField(max_length=63, blank=True, validators=[refuse_control_characters])
    sslmode = models.CharField(max_length=12, choices=SslMode.choices, default=SslMode.REQUIRE)
    tls = models.BooleanField(default=True)
    ca_cert = models.TextField(blank=True, help_text="PEM of a private CA, if any")
    allow_md5 = models.BooleanField(
        default=False,
        help_text="PostgreSQL: also answer MD5 password requests (old servers only). The "
        "portal never sends a password in clear text.",
    )
    password_sealed = models.TextField(editable=False)
    last_check_status = models.CharField(max_length=8, blank=True)
    last_check_at = models.DateTimeField(null=True, blank=True)
    cert_not_after = models.DateTimeField(null=True, blank=True)
    # Archived instances keep their settings and history but leave the team's lists.
    archived_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["team__name", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(port__gte=1) & Q(port__lte=65535), name="port_in_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def set_password(self, value: str) -> None:
        """Seal ``value`` as the stored password (saved with the row). Opening it goes
        through ``instances.secrets.open_password``, which names its purpose."""
        self.seal("password_sealed", value)

    @property
    def limits(self) -> TierLimits:
        return limits_for(self.engine, self.tier)

    @property
    def engine_info(self) -> EngineInterface:
        """The engine's facts and behaviour (``instances.engines``), also for templates."""
        return engine_for(self.engine)

    @property
    def ca_file_name(self) -> str | None:
        return f"{self.name}-ca.pem" if self.ca_cert else None

    def clean(self) -> None:
        if self.engine not in Engine.values:
            return  # the field's own validation names the bad choice
        engine = self.engine_info
        if engine.has_database and not self.database:
            raise ValidationError({"database": f"A {engine.label} instance needs a database name."})
        if not engine.has_database and self.database:
            raise ValidationError({"database": f"{engine.label} instances have no database name."})
        if self.ca_cert:
            try:
                self.ca_cert = certificates_only(self.ca_cert)
            except ValidationError as error:
                raise ValidationError({"ca_cert": error.messages}) from None


class CheckRun(models.Model):
    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="checks")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # Who ran it when no user did: an API token (token:NAME) or a command.
    actor_name = models.CharField(max_length=150, blank=True)
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    status = models.CharField(max_length=8)
    result = models.JSONField(help_text="The check report, without secrets")

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["instance", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.instance} {self.status} at {self.started_at:%Y-%m-%d %H:%M:%S}"

    @property
    def first_problem(self) -> str:
        for step in self.result.get("steps", []):
            if step.get("status") in ("fail", "warn"):
                return step.get("message", "")
        return ""


class RotationState(models.TextChoices):
    CREATED = "created", "Created"
    APPLIED = "applied", "Applied to the server"
    VERIFIED = "verified", "Verified with a fresh login"
    PROMOTED = "promoted", "Promoted to current"
    GRACE = "grace", "Old password in grace period"
    DONE = "done", "Done"
    UNDONE = "undone", "Undone"
    NEEDS_ATTENTION = "needs_attention", "Needs attention"


FINISHED_ROTATION_STATES = (RotationState.DONE, RotationState.UNDONE)


def protect_unfinished_rotations(collector, field, sub_objs, using) -> None:
    """on_delete of Rotation.instance: an unfinished rotation may hold the only working
    password, so its instance cannot be deleted (finish or undo it first); finished ones go
    with the instance."""
    unfinished = [rotation for rotation in sub_objs if not rotation.finished]
    if unfinished:
        raise models.ProtectedError(
            f"{unfinished[0].instance.name} has an unfinished password rotation: "
            "finish or undo it before deleting the instance.",
            set(unfinished),
        )
    models.CASCADE(collector, field, sub_objs, using)


class Rotation(SealedFieldsMixin, models.Model):
    SEALED_FIELDS = ("pending_sealed", "old_sealed")

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    instance = models.ForeignKey(
        Instance, on_delete=protect_unfinished_rotations, related_name="rotations"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    state = models.CharField(
        max_length=16, choices=RotationState.choices, default=RotationState.CREATED
    )
    pending_sealed = models.TextField(editable=False)
    old_sealed = models.TextField(editable=False)
    grace_seconds = models.PositiveIntegerField(default=0)
    grace_until = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["instance"],
                condition=~Q(state__in=FINISHED_ROTATION_STATES),
                name="one_unfinished_rotation_per_instance",
            )
        ]

    def __str__(self) -> str:
        return f"rotation of {self.instance} ({self.state})"

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_ROTATION_STATES


class AuditEvent(models.Model):
    """Append-only record of a secret-touching or security-relevant action. Never a secret."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=40, db_index=True)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL)
    instance = models.ForeignKey(Instance, null=True, blank=True, on_delete=models.SET_NULL)
    instance_name = models.CharField(max_length=63, blank=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    outcome = models.CharField(max_length=16, default="ok")
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name} {self.action}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise PermissionError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("audit events are append-only")


class Invitation(models.Model):
    """A single-use, time-limited link that makes its holder a member of a team. Only the
    SHA-256 of the random token is stored: the link is shown once (and e-mailed)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    email = models.EmailField(blank=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    # Set when an expired link was first opened, so its `invitation_expired` record is one.
    expiry_recorded = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"invitation to {self.team} as {self.role}"
