"""Audit records for authentication events."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from instances.audit import record

USERNAME_MAX = 150


@receiver(user_login_failed, dispatch_uid="instances.audit_login_failed")
def audit_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """Record who was tried (never the password), from where and with what client."""
    username = str(credentials.get("username", ""))[:USERNAME_MAX]
    record("login_failed", request=request, outcome="fail", actor_name=username, username=username)
