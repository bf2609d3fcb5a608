"""`create_api_token TEAM NAME --scopes settings,reveal,test,rotate [--days N] [--json]`:
print a new team API token once; only its hash is stored."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from api import tokens
from api.models import Scope
from instances.models import Team


class Command(BaseCommand):
    help = "Create a team API token and print it once (only its hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("team", help="team name")
        parser.add_argument("name", help="what the token is for, e.g. deploy")
        parser.add_argument(
            "--scopes",
            required=True,
            help=f"comma-separated, of: {', '.join(Scope.values)}",
        )
        parser.add_argument(
            "--days",
            type=int,
            default=tokens.DEFAULT_DAYS,
            help=f"days until it expires (1-{tokens.MAX_DAYS}, default {tokens.DEFAULT_DAYS})",
        )
        parser.add_argument("--json", action="store_true", help="print JSON to stdout")

    def handle(self, *args: Any, team: str, name: str, scopes: str, days: int, **options) -> None:
        team_obj = Team.objects.filter(name=team).first()
        if team_obj is None:
            raise CommandError(f"no team named {team!r}", returncode=2)
        try:
            issued = tokens.issue(team_obj, name, scopes, days=days, actor_name="create_api_token")
        except tokens.TokenRefused as refused:
            raise CommandError(str(refused), returncode=2) from None
        token = issued.token
        if options["json"]:
            report = {
                "id": token.pk,
                "token": issued.plaintext,
                "team": team_obj.name,
                "scopes": token.scopes,
                "expires_at": token.expires_at.isoformat(),
            }
            self.stdout.write(json.dumps(report, indent=2))
            return
        self.stderr.write(
            f"Token {token.pk} ({token.name!r}) of team {team_obj.name}, scopes "
            f"{','.join(token.scopes)}, expires {token.expires_at:%Y-%m-%d}. It is shown only "
            "now: put it in your CI's secret store."
        )
        self.stdout.write(issued.plaintext)
