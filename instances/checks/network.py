"""Steps ``resolve`` and ``tcp``: look the name up once, refuse denied networks, connect."""

from __future__ import annotations

import errno
import ipaddress
import socket

from instances.checks import hints
from instances.checks.report import Outcome
from instances.checks.session import IPNetwork, Session

_UNREACHABLE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.ENETDOWN}


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


def lookup(host: str, port: int) -> list[str]:
    """Addresses for ``host`` in resolver order, without duplicates (no DNS for IP literals)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def resolve(session: Session) -> Outcome:
    target = session.target
    try:
        addresses = lookup(target.host, target.port)
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_AGAIN:
            return Outcome.fail(f"The DNS lookup of {target.host} failed for now.", hints.DNS_SLOW)
        return Outcome.fail(f"{target.host} does not resolve to any address.", hints.DNS_NEW)
    except (UnicodeError, OSError):
        return Outcome.fail(f"{target.host} is not a valid host name.", hints.CHECK_HOST)
    for address in addresses:
        network = denied_network(address, session.deny_networks)
        if network is not None:
            return Outcome.fail(
                f"{target.host} resolves to {address}, in {network}, which connection tests "
                "never contact. Nothing was sent.",
                hints.DENIED,
            )
    if not addresses:
        return Outcome.fail(f"{target.host} does not resolve to any address.", hints.DNS_NEW)
    session.addresses = addresses
    return Outcome.ok(f"{target.host} resolves to {', '.join(addresses)}.")


def tcp(session: Session) -> Outcome:
    """Connect to the vetted addresses in order; the first that answers is kept."""
    target = session.target
    errors: list[OSError] = []
    for address in session.addresses:
        try:
            sock = connect_to(address, target.port, session.remaining())
        except OSError as exc:
            errors.append(exc)
            continue
        session.adopt(sock)
        session.address = address
        return Outcome.ok(f"Connected to {address} port {target.port}.")
    return _failure(session, errors)


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


def _failure(session: Session, errors: list[OSError]) -> Outcome:
    target = session.target
    where = f"{target.host} port {target.port}"
    if any(isinstance(exc, TimeoutError) for exc in errors):
        return Outcome.fail(
            f"Connecting to {where} timed out.", hints.with_status(target, hints.FIREWALL)
        )
    if errors and all(exc.errno in _UNREACHABLE for exc in errors):
        return Outcome.fail(
            f"{where} is unreachable from the portal.", hints.with_status(target, hints.UNREACHABLE)
        )
    if any(isinstance(exc, ConnectionRefusedError) for exc in errors):
        return Outcome.fail(f"{where} refused the connection.", hints.refused(target))
    reason = errors[-1].strerror if errors else "no address"
    return Outcome.fail(f"Could not connect to {where}: {reason}.", hints.refused(target))
