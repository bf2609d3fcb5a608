from __future__ import annotations

from django.db import models

from instances.models import Team


class TeamPolicy(models.Model):
    """A team's sign-in rules, set by its admins (a team without a row has the defaults)."""

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="policy")
    require_mfa = models.BooleanField(
        default=False,
        help_text="Members who sign in with a password must use a second factor.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.team}: {'MFA required' if self.require_mfa else 'MFA optional'}"
