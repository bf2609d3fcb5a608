"""Slack-compatible incoming webhooks (Slack, Mattermost, Rocket.Chat, Discord's /slack):
a JSON ``{"text": ...}`` POST. The URL itself is the credential, so it is stored sealed."""

from __future__ import annotations

import json

from alerts.channels import Message
from alerts.channels.http import post
from alerts.models import Channel

ICONS = {"ok": ":white_check_mark:", "warn": ":warning:", "fail": ":rotating_light:"}


def text(message: Message) -> str:
    icon = ICONS.get(message.status, ":information_source:")
    where = f"*{message.team}* / *{message.instance}*" if message.instance else f"*{message.team}*"
    return f"{icon} {where}: {message.message}"


class Transport:
    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def send(self, message: Message) -> None:
        body = json.dumps({"text": text(message)}).encode()
        post(self.channel.url, body, {"Content-Type": "application/json"})
