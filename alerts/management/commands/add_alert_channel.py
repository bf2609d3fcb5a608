"""add_alert_channel TEAM --webhook URL | --slack URL | --email ADDRESS [--json]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from alerts.configure import ConfigurationRefused, add_channel
from alerts.models import ChannelKind
from instances.checks.console import as_json
from instances.models import Team

ACTOR_NAME = "manage.py add_alert_channel"


class Command(BaseCommand):
    help = (
        "Add an alert channel to a team. A --webhook gets a signing secret, printed once. "
        "Exit 2 for bad input."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("team", metavar="TEAM", help="team name")
        where = parser.add_mutually_exclusive_group(required=True)
        where.add_argument("--webhook", metavar="URL", help="JSON webhook, HMAC-signed")
        where.add_argument("--slack", metavar="URL", help="Slack-compatible incoming webhook")
        where.add_argument("--email", metavar="ADDRESS", help="e-mail address")
        parser.add_argument("--json", action="store_true", help="print the channel as JSON")

    def handle(self, *args: Any, team: str, json: bool, **options: Any) -> None:
        found = Team.objects.filter(name=team).first()
        if found is None:
            raise CommandError(f"no team named {team!r}", returncode=2)
        kind = next(k for k in ChannelKind.values if options.get(k))
        try:
            channel, secret = add_channel(found, kind, options[kind], actor_name=ACTOR_NAME)
        except ConfigurationRefused as exc:
            raise CommandError(f"nothing added: {exc}", returncode=2) from None
        report = {
            "id": str(channel.uid),
            "team": found.name,
            "kind": channel.kind,
            "label": channel.label,
            "signing_secret": secret or None,
        }
        if json:
            self.stdout.write(as_json(report))
            return
        self.stdout.write(f"Added {channel.get_kind_display()} {channel.label} to {found.name}.")
        if secret:
            self.stdout.write(
                f"Signing secret (shown once, keep it with the receiver): {secret}\n"
                "Verify X-Zektor-Signature: sha256=HMAC-SHA256(secret, TIMESTAMP + '.' + BODY)."
            )
