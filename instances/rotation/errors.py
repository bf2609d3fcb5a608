"""What can go wrong while talking to a server during a rotation."""

from __future__ import annotations

from instances import outbound


class RotationError(Exception):
    """A server step failed; the message says what happened and never holds a secret."""


class LoginRefused(RotationError):
    """The server refused the user name and password."""


class ServerUnavailable(RotationError):
    """The server could not be reached, or refused the TLS handshake, or timed out."""


class ServerRefused(RotationError):
    """The server answered but would not change the password."""


def vetted_address(host: str, port: int) -> str:
    """The address to contact, vetted like a connection test's; ServerUnavailable if none."""
    try:
        return outbound.vetted_address(host, port)
    except outbound.DeniedAddress as exc:
        raise ServerUnavailable(f"Not contacted: {exc} (ZEKTOR_CHECK_DENY_NETWORKS).") from None
    except (OSError, UnicodeError) as exc:
        raise ServerUnavailable(f"Could not look up {host}: {exc}") from None


def redact(message: str, *secrets: str) -> str:
    """Servers echo arguments in some errors (e.g. ACL SETUSER): hide every secret."""
    for secret in secrets:
        if secret:
            message = message.replace(secret, "[redacted]")
    return message
