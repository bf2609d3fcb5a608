"""The client's address: the one login lockout, rate limits and audit records all use.

``X-Forwarded-For`` is believed only when the peer is a trusted proxy
(``ZEKTOR_TRUSTED_PROXIES``); it is then walked from the right past every trusted proxy, so
a client cannot choose its address by sending the header itself."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str | None:
    peer = _parse(request.META.get("REMOTE_ADDR", ""))
    if peer is None:
        return None
    address = peer
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [hop.strip() for hop in forwarded.split(",")] if forwarded else []
    while _trusted(address) and hops:
        hop = _parse(hops.pop())
        if hop is None:
            break  # a garbled entry: the last trusted proxy is all we know
        address = hop
    return str(address)


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return any(
        address.version == network.version and address in network
        for network in settings.ZEKTOR_TRUSTED_PROXIES
    )
