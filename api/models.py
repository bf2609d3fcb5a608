"""Team API tokens: only a SHA-256 digest of each token is stored, never the token."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from instances.models import Team


class Scope(models.TextChoices):
    SETTINGS = "settings", "settings: read instances, snippets and stored checks"
    REVEAL = "reveal", "reveal: read the password (audited)"
    TEST = "test", "test: run a connection test"
    ROTATE = "rotate", "rotate: start a password rotation and read its status"


class ApiToken(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    scopes = models.JSONField(default=list)
    # The token's first characters, to find it and to tell tokens apart on the Tokens page.
    prefix = models.CharField(max_length=16, db_index=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["team__name", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "name"],
                condition=Q(revoked_at__isnull=True),
                name="one_live_token_name_per_team",
            )
        ]

    def __str__(self) -> str:
        return f"token {self.name} of {self.team}"

    @property
    def actor_name(self) -> str:
        """How the token appears in audit records."""
        return f"token:{self.name}"

    @property
    def expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def active(self) -> bool:
        return self.revoked_at is None and not self.expired

    def allows(self, scope: str) -> bool:
        return scope in self.scopes
