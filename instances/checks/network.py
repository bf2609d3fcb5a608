"""Steps ``resolve`` and ``tcp``: look the name up once, refuse denied networks, connect."""

from __future__ import annotations

import errno
import socket

from instances.checks import hints
from instances.checks.report import Outcome
from instances.checks.session import Session
from instances.outbound import DeniedAddress, connect_to, vetted_addresses

_UNREACHABLE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.ENETDOWN}


def resolve(session: Session) -> Outcome:
    target = session.target
    try:
        addresses = vetted_addresses(target.host, target.port, session.policy)
    except DeniedAddress as exc:
        return Outcome.fail(
            f"Not contacted: {exc}. Connection tests never contact such addresses. "
            "Nothing was sent.",
            hints.DENIED,
        )
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_AGAIN:
            return Outcome.fail(f"The DNS lookup of {target.host} failed for now.", hints.DNS_SLOW)
        return Outcome.fail(f"{target.host} does not resolve to any address.", hints.DNS_NEW)
    except (UnicodeError, OSError):
        return Outcome.fail(f"{target.host} is not a valid host name.", hints.CHECK_HOST)
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
