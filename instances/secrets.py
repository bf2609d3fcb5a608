"""The one way to open a stored password: a call that names its purpose.

Human purposes (someone sees the password) are audited before the password is returned, and
also when it cannot be decrypted; views throttle them (``views.secrets.throttled``). System
purposes (the portal uses the password itself) are named here and not audited one by one:
what they do is audited (a connection test, a rotation step)."""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest

from instances import audit
from instances.crypto import DecryptionError, Keyring, key_id_of
from instances.validation import snippet_problem

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from instances.models import Instance, Rotation, SealedFieldsMixin

logger = logging.getLogger(__name__)


class Purpose(StrEnum):
    # Human: the value is the audit action.
    REVEAL = "reveal"
    COPY = "copy"
    DOWNLOAD = "env_download"
    ROTATION_REVEAL = "rotation_reveal"
    SNIPPETS_COMMAND = "snippets_command"
    # System.
    CONNECTION_TEST = "connection_test"
    ROTATION = "rotation"
    IMPORT = "import"
    FORM = "form"  # an instance form compares a typed password with the stored one
    KEY_ROTATION = "key_rotation"
    DEMO = "demo"
    ALERT_DELIVERY = "alert_delivery"

    @property
    def audited(self) -> bool:
        return self in HUMAN_PURPOSES


HUMAN_PURPOSES = frozenset(
    {
        Purpose.REVEAL,
        Purpose.COPY,
        Purpose.DOWNLOAD,
        Purpose.ROTATION_REVEAL,
        Purpose.SNIPPETS_COMMAND,
    }
)


class SecretUnavailable(Exception):
    """A stored password could not be decrypted; the message names the instance and the key
    id, never a secret."""

    status = 503  # HTTP: the server lacks the key
    exit_code = 1  # commands: the thing failed


class UnsafeStoredValue(SecretUnavailable):
    """A stored value no snippet can carry (validation.snippet_problem); the message says
    which instance and what to fix. Nothing is handed out."""

    status = 409
    exit_code = 2  # bad input, stored before validation existed


def open_password(
    instance: Instance,
    purpose: Purpose,
    *,
    request: HttpRequest | None = None,
    actor: AbstractBaseUser | None = None,
    **detail: Any,
) -> str:
    """The plaintext password of ``instance`` for ``purpose``; SecretUnavailable if it
    cannot be decrypted. Human purposes are audited first (``detail`` goes into the record),
    and refused (UnsafeStoredValue) when no snippet can carry the instance's stored values."""
    try:
        password = instance.unseal("password_sealed")
    except DecryptionError:
        key_id = key_id_of(instance.password_sealed)
        if purpose.audited:
            _audit(instance, purpose, request, actor, outcome="error", key_id=key_id, **detail)
        logger.warning("password of %s not decryptable (key id %r)", instance.name, key_id)
        raise SecretUnavailable(decryption_message(instance.name, key_id)) from None
    if purpose.audited:
        if problem := snippet_problem(instance, password):
            _audit(instance, purpose, request, actor, outcome="error", unsafe_value=True, **detail)
            raise UnsafeStoredValue(problem)
        _audit(instance, purpose, request, actor, **detail)
    return password


def open_rotation(rotation: Rotation) -> tuple[str, str]:
    """The old and the new password a running rotation keeps (system purpose ROTATION)."""
    try:
        return rotation.unseal("old_sealed"), rotation.unseal("pending_sealed")
    except DecryptionError:
        key_id = key_id_of(rotation.pending_sealed) or key_id_of(rotation.old_sealed)
        raise SecretUnavailable(
            decryption_message(rotation.instance.name, key_id, what="passwords of the rotation")
        ) from None


def open_channel_secret(row: SealedFieldsMixin, field: str, what: str) -> str:
    """Purpose ALERT_DELIVERY: the webhook URL or signing secret of an alert channel, for
    sending (the delivery is what is recorded); SecretUnavailable if it cannot be decrypted."""
    try:
        return row.unseal(field)
    except DecryptionError:
        key_id = key_id_of(getattr(row, field)) or "unknown"
        raise SecretUnavailable(
            f"The {what} of alert channel {row} could not be decrypted (stored under key id "
            f"{key_id!r}): check ZEKTOR_ENCRYPTION_KEYS, or add the channel again."
        ) from None


def reseal(row: SealedFieldsMixin, field: str, ring: Keyring) -> str:
    """Purpose KEY_ROTATION: the field's secret sealed again under ``ring``'s primary key
    (DecryptionError when it cannot be opened); the plaintext never leaves this function."""
    context = row.seal_context(field)
    return ring.seal(ring.open(getattr(row, field), context), context)


def decryption_message(name: str, key_id: str, *, what: str = "password") -> str:
    key = f"key id {key_id!r}" if key_id else "an unknown key id"
    return (
        f"The {what} of {name} could not be decrypted (stored under {key}). "
        "Check that ZEKTOR_ENCRYPTION_KEYS on this server contains that key, "
        "or ask an admin to set the password again."
    )


def _audit(
    instance: Instance,
    purpose: Purpose,
    request: HttpRequest | None,
    actor: AbstractBaseUser | None,
    **detail: Any,
) -> None:
    audit.record(purpose.value, request=request, actor=actor, instance=instance, **detail)
