"""Audit records and counting for authentication events."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from instances.audit import record
from instances.signin import count_failure, is_known_username, typed_username


@receiver(user_login_failed, dispatch_uid="instances.audit_login_failed")
def audit_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """Record who was tried (never the password), from where and with what client. The typed
    username is kept only when such a user exists: people type passwords into that field."""
    count_failure(request)
    typed = typed_username(credentials, request)
    known = is_known_username(typed)
    username = typed if known else ""
    record(
        "login_failed",
        request=request,
        outcome="fail",
        actor_name=username,
        username=username,
        known_user=known,
    )
