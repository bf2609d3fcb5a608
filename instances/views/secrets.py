"""The one way views hand out a stored password: throttled per user, audited before answering."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django_ratelimit.core import is_ratelimited
from django_ratelimit.exceptions import Ratelimited

from instances import audit
from instances.crypto import DecryptionError, key_id_of
from instances.models import Instance
from instances.validation import snippet_problem
from instances.views import rate_limited

SECRETS_RATE = "30/m"
SECRETS_RATE_GROUP = "instance-secrets"


class SecretUnavailable(Exception):
    """The password could not be decrypted; the message names the instance and key id only."""

    status = 500


class UnsafeStoredValue(SecretUnavailable):
    """A stored value no snippet can carry; the message says which instance and what to fix."""

    status = 409


def throttled(request: HttpRequest) -> HttpResponse | None:
    """A 429 response once the user used up their reveals, copies and downloads for now."""
    if is_ratelimited(
        request, group=SECRETS_RATE_GROUP, key="user", rate=SECRETS_RATE, increment=True
    ):
        return rate_limited(request, Ratelimited())
    return None


def open_password(request: HttpRequest, instance: Instance, action: str, **detail) -> str:
    """The plaintext password, after writing the audit record of `action` (also on failure)."""
    try:
        password = instance.password
    except DecryptionError:
        key_id = key_id_of(instance.password_sealed)
        audit.record(
            action, request=request, instance=instance, outcome="error", key_id=key_id, **detail
        )
        raise SecretUnavailable(decryption_message(instance, key_id)) from None
    if problem := snippet_problem(instance, password):
        # Nothing is handed out: no page, copy or download can be built from this value.
        audit.record(
            action, request=request, instance=instance, outcome="error", unsafe_value=True, **detail
        )
        raise UnsafeStoredValue(problem)
    audit.record(action, request=request, instance=instance, **detail)
    return password


def decryption_message(instance: Instance, key_id: str) -> str:
    key = f"key id {key_id!r}" if key_id else "an unknown key id"
    return (
        f"The password of {instance.name} could not be decrypted (stored under {key}). "
        "Check that ZEKTOR_ENCRYPTION_KEYS on this server contains that key, "
        "or ask an admin to set the password again."
    )
