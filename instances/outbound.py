"""Connections the portal opens to instances: the host name is looked up once, every address
is checked against ZEKTOR_CHECK_DENY_NETWORKS, and only a vetted address is contacted. The
name stays in use for SNI and certificate checks."""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl

import redis
from django.conf import settings

from zektor_portal.env import IPNetwork


class DeniedAddress(Exception):
    """The host resolves into a network the portal never contacts; nothing was sent."""


# IPv4 addresses no instance has, whatever ZEKTOR_CHECK_DENY_NETWORKS says, when they hide
# inside an IPv6 address: "this network" (0.0.0.0 reaches the local host on Linux), loopback,
# link-local (cloud metadata), multicast and broadcast, and Alibaba's metadata address.
_NEVER_EMBEDDED = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "100.100.100.200/32",
    )
)
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to: IPv4-mapped, IPv4-compatible, 6to4,
    NAT64 (well-known prefix) and Teredo (server and client)."""
    found = [v4 for v4 in (ip.ipv4_mapped, ip.sixtofour) if v4 is not None]
    if (ip in _IPV4_COMPATIBLE and not ip.is_loopback) or ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def always_refused(host: str) -> str | None:
    """Why an IP literal ``host`` is never contacted, whatever the settings say: unspecified
    addresses (a connection to ``::`` or ``0.0.0.0`` reaches the local host) and IPv6 forms of
    a refused IPv4 address. None for host names and acceptable literals; no DNS lookup."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if ip.is_unspecified or (ip.version == 4 and ip in _NEVER_EMBEDDED[0]):
        return f"{host} is an unspecified address, which reaches the portal's own host"
    if isinstance(ip, ipaddress.IPv6Address):
        for v4 in embedded_ipv4(ip):
            if v4.is_unspecified or any(v4 in net for net in _NEVER_EMBEDDED):
                return f"{host} is an IPv6 form of {v4}, an address instances never have"
    return None


def lookup(host: str, port: int) -> list[str]:
    """Addresses for ``host`` in resolver order, without duplicates (no DNS for IP literals)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def denied_network(address: str, deny: list[IPNetwork]) -> IPNetwork | None:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    candidates = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        candidates += [v4 for v4 in (ip.ipv4_mapped, ip.sixtofour) if v4 is not None]
    for network in deny:
        if any(
            candidate.version == network.version and candidate in network
            for candidate in candidates
        ):
            return network
    return None


def vetted_address(host: str, port: int) -> str:
    """The first address of ``host``; DeniedAddress if any of them is in a denied network,
    OSError if the name does not resolve."""
    addresses = lookup(host, port)
    for address in addresses:
        network = denied_network(address, settings.ZEKTOR_CHECK_DENY_NETWORKS)
        if network is not None:
            raise DeniedAddress(f"{host} resolves to {address}, in denied network {network}")
    if not addresses:
        raise OSError(f"{host} does not resolve to any address")
    return addresses[0]


def connect_to(address: str, port: int, timeout: float) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(timeout)
        sock.connect((address, port))
    except BaseException:
        sock.close()
        raise
    return sock


@functools.lru_cache(maxsize=64)
def tls_context(ca_cert: str, *, verify: bool) -> ssl.SSLContext:
    """Trusts the instance's own CA when it has one, else the system's public roots. Cached:
    loading the system store costs more than a handshake, and contexts are thread-safe."""
    ctx = ssl.create_default_context(cadata=ca_cert or None)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class VettedConnection(redis.connection.Connection):
    """A redis-py connection that uses a socket already connected to the vetted address
    (and, with TLS, already verified for the host name)."""

    def __init__(self, *, vetted_socket: socket.socket, **kwargs) -> None:
        self._vetted_socket: socket.socket | None = vetted_socket
        super().__init__(**kwargs)

    def _connect(self) -> socket.socket:
        sock, self._vetted_socket = self._vetted_socket, None
        if sock is None:
            raise OSError("the vetted connection was already used")
        sock.settimeout(self.socket_timeout)
        return sock
