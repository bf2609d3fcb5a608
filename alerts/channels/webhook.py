"""Generic JSON webhooks, signed so the receiver can tell the portal sent them:
``X-Zektor-Signature: sha256=HEX(HMAC-SHA256(secret, TIMESTAMP + "." + BODY))`` with
``X-Zektor-Timestamp`` (Unix seconds) against replays."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from alerts.channels import Message
from alerts.channels.http import post
from alerts.models import Channel


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


class Transport:
    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def send(self, message: Message) -> None:
        body = json.dumps(message.as_json()).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Zektor-Event": message.event,
            "X-Zektor-Alert": message.id,
            "X-Zektor-Timestamp": timestamp,
            "X-Zektor-Signature": signature(self.channel.signing_secret, timestamp, body),
        }
        post(self.channel.url, body, headers)
