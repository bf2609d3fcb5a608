"""Helpers for tests about secrets: every form a leaked password could take, lost keys."""

from __future__ import annotations

import base64
import html
import json
from urllib.parse import quote, quote_plus

from instances.crypto import Keyring
from instances.models import Instance
from tests.base import TEST_PASSWORD


def secret_forms(password: str) -> set[str]:
    return {
        password,
        quote(password, safe=""),
        quote_plus(password),
        html.escape(password),
        html.escape(password, quote=False),
        json.dumps(password)[1:-1],
        json.dumps(password, ensure_ascii=False)[1:-1],
    }


def leaked_forms(text: str | bytes, password: str) -> list[str]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return sorted(form for form in secret_forms(password) if form in text)


def seal_under_missing_key(instance: Instance) -> None:
    """Store the password under a key id that ZEKTOR_ENCRYPTION_KEYS does not have."""
    lost = Keyring({"lost7": base64.b64decode("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")})
    sealed = lost.seal(TEST_PASSWORD, instance.seal_context("password_sealed"))
    Instance.objects.filter(pk=instance.pk).update(password_sealed=sealed)
