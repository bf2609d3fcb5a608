"""Where alerts go. One module per channel kind, each with a ``Transport`` whose ``send``
delivers one message or raises ``DeliveryError`` with a reason safe to show and log."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from alerts.models import Channel


class DeliveryError(Exception):
    """The channel did not take the message; the text names why, never a secret."""


@dataclass(frozen=True)
class Message:
    id: str
    team: str
    instance: str
    event: str
    status: str
    message: str
    at: dt.datetime

    def as_json(self) -> dict[str, Any]:
        """The webhook body of shared/interface.md (plus ``id``, unique per alert)."""
        return {
            "id": self.id,
            "team": self.team,
            "instance": self.instance,
            "event": self.event,
            "status": self.status,
            "message": self.message,
            "at": self.at.isoformat(timespec="seconds"),
        }

    @property
    def subject(self) -> str:
        where = f"{self.team}/{self.instance}" if self.instance else self.team
        return f"[Zektor] {where}: {self.event.replace('_', ' ')}"


class Transport(Protocol):
    def __init__(self, channel: Channel) -> None: ...

    def send(self, message: Message) -> None: ...


def transport_for(channel: Channel) -> Transport:
    from alerts.channels import email, slack, webhook

    kinds: dict[str, type[Transport]] = {
        "email": email.Transport,
        "webhook": webhook.Transport,
        "slack": slack.Transport,
    }
    return kinds[channel.kind](channel)
