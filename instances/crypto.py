"""AES-256-GCM encryption of stored secrets, with key ids and key rotation.

A sealed value is ``zk1:<key id>:<base64url(nonce || ciphertext+tag)>``. The associated
data names the row and field it belongs to, so a ciphertext copied to another row or
field fails to decrypt instead of yielding another instance's password.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

PREFIX = "zk1"
NONCE_BYTES = 12


class DecryptionError(Exception):
    """A stored secret could not be decrypted; the message names what and which key."""


def generate_key_entry(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


@dataclass(frozen=True)
class Keyring:
    keys: dict[str, bytes]

    @property
    def primary_id(self) -> str:
        return next(iter(self.keys))

    def seal(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keys[self.primary_id]).encrypt(
            nonce, plaintext.encode("utf-8"), context.encode("utf-8")
        )
        payload = base64.urlsafe_b64encode(nonce + sealed).decode("ascii")
        return f"{PREFIX}:{self.primary_id}:{payload}"

    def open(self, token: str, context: str) -> str:
        key_id, payload = parse_token(token, context)
        key = self.keys.get(key_id)
        if key is None:
            raise DecryptionError(f"{context}: key id {key_id!r} is not in ZEKTOR_ENCRYPTION_KEYS")
        nonce, sealed = payload[:NONCE_BYTES], payload[NONCE_BYTES:]
        try:
            plaintext = AESGCM(key).decrypt(nonce, sealed, context.encode("utf-8"))
        except InvalidTag:
            raise DecryptionError(
                f"{context}: ciphertext under key id {key_id!r} was altered or belongs "
                "to another record"
            ) from None
        return plaintext.decode("utf-8")

    def needs_reseal(self, token: str) -> bool:
        return key_id_of(token) != self.primary_id


def parse_token(token: str, context: str) -> tuple[str, bytes]:
    prefix, _, rest = token.partition(":")
    key_id, _, encoded = rest.partition(":")
    if prefix != PREFIX or not key_id or not encoded:
        raise DecryptionError(f"{context}: stored value is not a sealed secret")
    try:
        payload = base64.urlsafe_b64decode(encoded)
    except (binascii.Error, ValueError):
        raise DecryptionError(
            f"{context}: sealed secret under key id {key_id!r} is corrupt"
        ) from None
    if len(payload) < NONCE_BYTES + 16:
        raise DecryptionError(f"{context}: sealed secret under key id {key_id!r} is truncated")
    return key_id, payload


def key_id_of(token: str) -> str:
    return token.split(":", 2)[1] if token.count(":") >= 2 else ""


def keyring() -> Keyring:
    return Keyring(settings.ZEKTOR_ENCRYPTION_KEYS)
