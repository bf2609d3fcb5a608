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
