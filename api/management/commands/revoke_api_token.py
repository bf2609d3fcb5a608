"""`revoke_api_token ID`: the token stops working at once (audited)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from api import tokens
from api.models import ApiToken


class Command(BaseCommand):
    help = "Revoke a team API token by its id."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("id", type=int, help="the token's id (create_api_token prints it)")

    def handle(self, *args: Any, id: int, **options: Any) -> None:
        token = ApiToken.objects.select_related("team").filter(pk=id).first()
        if token is None:
            raise CommandError(f"no API token with id {id}", returncode=2)
        if tokens.revoke(token, actor_name="revoke_api_token"):
            self.stdout.write(f"revoked token {token.pk} ({token.name!r}) of {token.team.name}")
        else:
            self.stdout.write(f"token {token.pk} ({token.name!r}) was revoked already")
