"""Sign-in limits beyond django-axes' per username-and-address lockout: failures from one
client address across all usernames (password spraying) are counted, and past the limit
that address may not sign in for a while, whatever username it tries. And what a failed
sign-in leaves behind: people type passwords into the username field, so a typed name is
kept only when such a user exists."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django_ratelimit.core import is_ratelimited

from instances.clientaddress import client_address

USERNAME_MAX = 150
ADDRESS_FAILURES_RATE = "30/15m"
ADDRESS_FAILURES_GROUP = "signin-failures-by-address"
IPV6_PREFIX = 64  # one IPv6 client usually holds a whole /64


def address_key(group: str, request: HttpRequest) -> str:
    address = client_address(request) or "unknown"
    if ":" in address:
        return str(ipaddress.ip_network(f"{address}/{IPV6_PREFIX}", strict=False))
    return address


def _over_limit(request: HttpRequest, *, count: bool) -> bool:
    return is_ratelimited(
        request,
        group=ADDRESS_FAILURES_GROUP,
        key=address_key,
        rate=ADDRESS_FAILURES_RATE,
        increment=count,
    )


def count_failure(request: HttpRequest | None) -> None:
    if request is not None:
        _over_limit(request, count=True)


class AddressThrottleBackend:
    """First in AUTHENTICATION_BACKENDS: refuses every sign-in from an address that failed
    too often. axes' middleware then answers with the lockout page (429). It has no
    get_user(): it never signs anyone in."""

    def authenticate(self, request: HttpRequest | None, **credentials: Any) -> None:
        if request is not None and _over_limit(request, count=False):
            request.zektor_address_locked = True  # type: ignore[attr-defined]
            request.axes_locked_out = True  # type: ignore[attr-defined]
            raise PermissionDenied("too many failed sign-ins from this address")


def typed_username(credentials: dict[str, Any] | None, request: HttpRequest | None) -> str:
    typed = (credentials or {}).get("username")
    if typed is None and request is not None:
        typed = request.POST.get("username")
    return str(typed or "")[:USERNAME_MAX]


def is_known_username(typed: str) -> bool:
    User = get_user_model()
    return bool(typed) and User._default_manager.filter(**{User.USERNAME_FIELD: typed}).exists()


def lockout_username(request: HttpRequest | None, credentials: dict[str, Any] | None) -> str:
    """AXES_USERNAME_CALLABLE: the username axes counts and stores. An unknown one becomes a
    keyed digest, so lockout still counts it but the typed text is never stored."""
    typed = typed_username(credentials, request)
    if is_known_username(typed):
        return typed
    digest = hmac.new(settings.SECRET_KEY.encode(), typed.encode(errors="replace"), "sha256")
    return "unknown-" + digest.hexdigest()[:16]
