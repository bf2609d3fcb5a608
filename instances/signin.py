"""Sign-in limits beyond django-axes' per username-and-address lockout: failures from one
client address across all usernames (password spraying) are counted, and past the limit
that address may not sign in for a while, whatever username it tries."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django_ratelimit.core import is_ratelimited

from instances.clientaddress import client_address

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
