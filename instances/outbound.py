"""The one road out to an instance: the host name is looked up once, every address is vetted
(``AddressPolicy``: always-refused forms, loopback, ZEKTOR_CHECK_DENY_NETWORKS), and only a
vetted address is contacted. The name stays in use for SNI and certificate checks."""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings

from zektor_portal.env import IPNetwork

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class DeniedAddress(Exception):
    """The host resolves into a network the portal never contacts; nothing was sent."""


# "This network": 0.0.0.0 reaches the local host on Linux, as :: does.
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
# IPv4 addresses no instance has, whatever ZEKTOR_CHECK_DENY_NETWORKS says, when they hide
# inside an IPv6 address: this network, loopback, link-local (cloud metadata), multicast and
# broadcast, and Alibaba's metadata address.
_NEVER_EMBEDDED = (
    _THIS_NETWORK,
    *map(
        ipaddress.IPv4Network,
        ("127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4", "100.100.100.200/32"),
    ),
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


def ip_literal(host: str) -> IPAddress | None:
    """The address ``host`` names without DNS: an IP literal (an IPv6 zone dropped), or one
    of the old numeric IPv4 forms the resolver also accepts (``0``, ``127.1``, ``0x7f.1``)."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def _never_contacted(ip: IPAddress) -> str | None:
    if ip.is_unspecified or (isinstance(ip, ipaddress.IPv4Address) and ip in _THIS_NETWORK):
        return "an unspecified address, which reaches the portal's own host"
    if isinstance(ip, ipaddress.IPv6Address):
        for v4 in embedded_ipv4(ip):
            if v4.is_unspecified or any(v4 in net for net in _NEVER_EMBEDDED):
                return f"an IPv6 form of {v4}, an address instances never have"
    return None


def always_refused(host: str) -> str | None:
    """Why an IP literal ``host`` is never contacted, whatever the settings say: unspecified
    addresses (a connection to ``::`` or ``0.0.0.0`` reaches the local host) and IPv6 forms of
    a refused IPv4 address. None for host names and acceptable literals; no DNS lookup."""
    ip = ip_literal(host)
    why = None if ip is None else _never_contacted(ip)
    return None if why is None else f"{host} is {why}"


@dataclass(frozen=True)
class AddressPolicy:
    """Which resolved addresses may be contacted: never the always-refused ones, loopback
    only when ``allow_loopback``, nothing in ``deny`` (nor an IPv6 form of it)."""

    deny: tuple[IPNetwork, ...]
    allow_loopback: bool = False

    @classmethod
    def from_settings(cls) -> AddressPolicy:
        return cls(tuple(settings.ZEKTOR_CHECK_DENY_NETWORKS), settings.ZEKTOR_CHECK_ALLOW_LOOPBACK)

    def refusal(self, address: str) -> str | None:
        """Why ``address`` (an IP literal) is not contacted, as in "it is ...", or None."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        why = _never_contacted(ip)
        if why is not None:
            return why
        if ip.is_loopback:
            if self.allow_loopback:
                return None
            return "a loopback address (ZEKTOR_CHECK_ALLOW_LOOPBACK is off)"
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address):
            candidates += embedded_ipv4(ip)
        for network in self.deny:
            if any(c.version == network.version and c in network for c in candidates):
                return f"in {network} (ZEKTOR_CHECK_DENY_NETWORKS)"
        return None


def lookup(host: str, port: int) -> list[str]:
    """Addresses for ``host`` in resolver order, without duplicates (no DNS for IP literals).
    socket.gaierror when the name does not resolve, UnicodeError for an invalid name."""
    ip = ip_literal(host)
    if ip is not None:
        return [str(ip)]
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def vet(addresses: list[str], host: str, policy: AddressPolicy) -> list[str]:
    """``addresses`` unchanged when every one may be contacted, else DeniedAddress for the
    first that may not: a name that resolves to one refused address is not trusted at all."""
    for address in addresses:
        why = policy.refusal(address)
        if why is not None:
            if ip_literal(host) is not None:
                raise DeniedAddress(f"{host} is {why}")
            raise DeniedAddress(f"{host} resolves to {address}, {why}")
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, f"{host} does not resolve to any address")
    return addresses


def vetted_addresses(host: str, port: int, policy: AddressPolicy | None = None) -> list[str]:
    """Resolve once and vet: the addresses to try, in order (DeniedAddress, OSError)."""
    return vet(lookup(host, port), host, policy or AddressPolicy.from_settings())


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

    def __init__(self, *, vetted_socket: socket.socket, **kwargs: Any) -> None:
        self._vetted_socket: socket.socket | None = vetted_socket
        super().__init__(**kwargs)

    def _connect(self) -> socket.socket:
        sock, self._vetted_socket = self._vetted_socket, None
        if sock is None:
            raise OSError("the vetted connection was already used")
        sock.settimeout(self.socket_timeout)
        return sock
