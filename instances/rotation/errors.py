"""What can go wrong while talking to a server during a rotation."""

from __future__ import annotations


class RotationError(Exception):
    """A server step failed; the message says what happened and never holds a secret."""


class LoginRefused(RotationError):
    """The server refused the user name and password."""


class ServerUnavailable(RotationError):
    """The server could not be reached, or refused the TLS handshake, or timed out."""


class ServerRefused(RotationError):
    """The server answered but would not change the password."""


def redact(message: str, *secrets: str) -> str:
    """Servers echo arguments in some errors (e.g. ACL SETUSER): hide every secret."""
    for secret in secrets:
        if secret:
            message = message.replace(secret, "[redacted]")
    return message
