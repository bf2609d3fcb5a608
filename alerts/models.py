"""Alert channels of a team, the alert state of each instance, the alerts raised and
their deliveries to each channel. Webhook URLs and signing secrets are stored sealed."""

from __future__ import annotations

import uuid

from django.db import models

from instances.models import Instance, SealedFieldsMixin, Team
from instances.secrets import open_channel_secret

DEFAULT_FAILURE_THRESHOLD = 2


class ChannelKind(models.TextChoices):
    EMAIL = "email", "E-mail"
    WEBHOOK = "webhook", "Webhook (JSON, HMAC-signed)"
    SLACK = "slack", "Slack-compatible webhook"


class Channel(SealedFieldsMixin, models.Model):
    SEALED_FIELDS = ("url_sealed", "secret_sealed")

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="alert_channels")
    kind = models.CharField(max_length=10, choices=ChannelKind.choices)
    email = models.EmailField(blank=True)
    url_sealed = models.TextField(blank=True, editable=False)
    secret_sealed = models.TextField(blank=True, editable=False)
    label = models.CharField(max_length=200, help_text="Where it goes, without secrets")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team__name", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.label}"

    @property
    def url(self) -> str:
        return open_channel_secret(self, "url_sealed", "URL") if self.url_sealed else ""

    @property
    def signing_secret(self) -> str:
        if not self.secret_sealed:
            return ""
        return open_channel_secret(self, "secret_sealed", "signing secret")

    @property
    def last_delivery(self) -> Delivery | None:
        return self.deliveries.order_by("-created_at", "-id").first()


class TeamAlertSettings(models.Model):
    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="alert_settings")
    failure_threshold = models.PositiveSmallIntegerField(
        default=DEFAULT_FAILURE_THRESHOLD,
        help_text="Consecutive failed checks before an instance counts as failing",
    )
    rotation_policy_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Alert when a password is older than this"
    )
    daily_digest = models.BooleanField(
        default=False, help_text="One message a day instead of one per alert"
    )
    last_digest_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"alert settings of {self.team}"


class Topic(models.TextChoices):
    AVAILABILITY = "availability", "Availability"
    CERTIFICATE = "certificate", "Certificate"
    ROTATION = "rotation", "Rotation"
    PASSWORD_AGE = "password_age", "Password age"


class AlertState(models.Model):
    """The last known state of one topic of one instance; a change of ``state`` is what
    raises an alert, and the row is locked while that change is decided."""

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="alert_states")
    topic = models.CharField(max_length=16, choices=Topic.choices)
    state = models.CharField(max_length=16, default="ok")
    since = models.DateTimeField()
    consecutive_failures = models.PositiveIntegerField(default=0)
    first_failure_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["instance", "topic"], name="one_state_per_topic")
        ]

    def __str__(self) -> str:
        return f"{self.instance} {self.topic}: {self.state}"


class Alert(models.Model):
    """One state change (or a test, or a digest), as sent: never a secret."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="alerts")
    instance = models.ForeignKey(
        Instance, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    instance_name = models.CharField(max_length=63, blank=True)
    event = models.CharField(max_length=24)
    status = models.CharField(max_length=8)
    message = models.TextField()
    at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.event} {self.instance_name} at {self.at:%Y-%m-%d %H:%M}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Delivery(models.Model):
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(
        max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["alert", "channel"], name="one_delivery_per_channel")
        ]

    def __str__(self) -> str:
        return f"{self.alert} to {self.channel}: {self.status}"
