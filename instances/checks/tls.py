"""Step ``tls``: PostgreSQL's SSLRequest or Valkey's direct TLS, on the tcp step's socket.

One verified handshake (chain + host name) is the fast path. Only when verification fails
is a second, unverified handshake made, to read the certificate and say what is wrong.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

from instances.checks import certificates, hints
from instances.checks.report import FAIL, OK, WARN, Outcome, TlsInfo
from instances.checks.session import Session
from instances.outbound import connect_to, tls_context

if TYPE_CHECKING:
    from cryptography import x509

    from instances.engines.base import Target

EXPIRY_WARNING_DAYS = 14

# OpenSSL X509_V_ERR_* codes (ssl.SSLCertVerificationError.verify_code).
CERT_NOT_YET_VALID = 9
CERT_HAS_EXPIRED = 10
HOSTNAME_MISMATCH = 62

_NOT_TLS_REASONS = ("WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE")
_VERSION_REASONS = ("PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL", "NO_PROTOCOLS_AVAILABLE")


class NoTls(Exception):
    """The server answered, but not with TLS."""


@dataclass(frozen=True)
class Problem:
    kind: str  # "chain" | "host"
    message: str
    hint: str


def tls(session: Session) -> Outcome:
    target = session.target
    if not session.engine.uses_tls(target):
        return Outcome.warn("TLS is off for this instance.", hints.TLS_OFF)
    assert session.sock is not None
    try:
        return _verified(session, session.sock)
    except NoTls as exc:
        return Outcome.fail(str(exc), hints.USE_TLS)
    except ssl.SSLCertVerificationError as exc:
        session.close_socket()
        return _unverified(session, exc)
    except TimeoutError:
        return Outcome.fail(
            "The server accepted the connection but did not complete a TLS handshake in time.",
            hints.with_status(target, hints.SILENT_TLS),
        )
    except ssl.SSLError as exc:
        return _handshake_failure(exc)
    except OSError:
        return Outcome.fail(
            "The server closed the connection during the TLS handshake.", hints.USE_TLS
        )


def handshake(session: Session, sock: socket.socket, ctx: ssl.SSLContext) -> ssl.SSLSocket:
    sock.settimeout(session.remaining())
    session.engine.start_tls(sock)
    tls_sock = ctx.wrap_socket(sock, server_hostname=session.target.host)
    session.adopt(tls_sock)
    return tls_sock


def _verified(session: Session, sock: socket.socket) -> Outcome:
    tls_sock = handshake(session, sock, tls_context(session.target.ca_cert, verify=True))
    now = dt.datetime.now(dt.UTC)
    cert = _peer_certificate(tls_sock)
    session.tls = _info(tls_sock, cert, now, hostname_match=True, chain_valid=True)
    return _judge(session, [])


def _unverified(session: Session, error: ssl.SSLCertVerificationError) -> Outcome:
    """Second handshake without verification, only to read the certificate."""
    target = session.target
    assert session.address is not None
    sock = connect_to(session.address, target.port, session.remaining())
    tls_sock = handshake(session, sock, tls_context(target.ca_cert, verify=False))
    now = dt.datetime.now(dt.UTC)
    cert = _peer_certificate(tls_sock)
    hostname_match = certificates.matches_host(cert, target.host)
    trusted = error.verify_code == HOSTNAME_MISMATCH
    chain_valid = trusted and certificates.in_validity_period(cert, now)
    session.tls = _info(tls_sock, cert, now, hostname_match, chain_valid)
    return _judge(session, _problems(target, error, cert, now, hostname_match))


def _peer_certificate(tls_sock: ssl.SSLSocket) -> x509.Certificate:
    der = tls_sock.getpeercert(binary_form=True)
    if der is None:  # a TLS server always sends one; a handshake without is no TLS we know
        raise NoTls("The server completed the TLS handshake without a certificate.")
    return certificates.load(der)


def _info(
    tls_sock: ssl.SSLSocket,
    cert: x509.Certificate,
    now: dt.datetime,
    hostname_match: bool,
    chain_valid: bool,
) -> TlsInfo:
    return TlsInfo(
        version=tls_sock.version() or "",
        cipher=(tls_sock.cipher() or ("",))[0],
        certificate=certificates.describe(
            cert, now=now, hostname_match=hostname_match, chain_valid=chain_valid
        ),
    )


def _problems(
    target: Target,
    error: ssl.SSLCertVerificationError,
    cert: x509.Certificate,
    now: dt.datetime,
    hostname_match: bool,
) -> list[Problem]:
    problems = []
    code = error.verify_code
    if code not in (HOSTNAME_MISMATCH, CERT_HAS_EXPIRED, CERT_NOT_YET_VALID):
        issuer = cert.issuer.rfc4514_string()
        hint = hints.CA_FILE if target.ca_cert else hints.PUBLIC_CA
        problems.append(
            Problem("chain", f"The certificate's issuer ({issuer}) is not trusted.", hint)
        )
    if cert.not_valid_after_utc < now:
        when = f"{cert.not_valid_after_utc:%Y-%m-%d}"
        problems.append(Problem("chain", f"The certificate expired on {when}.", hints.EXPIRED))
    elif cert.not_valid_before_utc > now:
        problems.append(Problem("chain", "The certificate is not valid yet.", hints.EXPIRED))
    if not hostname_match:
        named = ", ".join(certificates.names(cert)) or "no name"
        problems.append(
            Problem("host", f"The certificate is for {named}, not {target.host}.", hints.WRONG_HOST)
        )
    if not problems:  # OpenSSL saw a fault the checks above do not name
        problems.append(
            Problem(
                "chain", f"The certificate was rejected: {error.verify_message}.", hints.PUBLIC_CA
            )
        )
    return problems


def _judge(session: Session, problems: list[Problem]) -> Outcome:
    target, tls_info = session.target, session.tls
    assert tls_info is not None and tls_info.certificate is not None
    summary = f"{tls_info.version} with {tls_info.cipher}."
    if not session.engine.verifies_chain(target):
        summary += (
            f" The certificate was not verified: with sslmode={target.sslmode} the login "
            "accepts any certificate, an impostor's too."
        )
    if problems:
        fatal = [p for p in problems if _is_fatal(session, p)]
        status = FAIL if fatal else WARN
        message = " ".join(p.message for p in problems)
        hint = " ".join(dict.fromkeys(p.hint for p in problems))
        if status == WARN:
            hint = f"{hint} {hints.lenient(target)}"
        return Outcome(status, f"{summary} {message}", hint)
    days = tls_info.certificate.days_left
    if days < EXPIRY_WARNING_DAYS:
        return Outcome.warn(f"{summary} The certificate expires in {days} days.", hints.EXPIRING)
    return Outcome(
        OK, f"{summary} Certificate valid for {days} more days, issued for {target.host}."
    )


def _is_fatal(session: Session, problem: Problem) -> bool:
    engine, target = session.engine, session.target
    return engine.verifies_host(target) if problem.kind == "host" else engine.verifies_chain(target)


def _handshake_failure(exc: ssl.SSLError) -> Outcome:
    reason = (exc.reason or "").upper()
    if any(word in reason for word in _VERSION_REASONS):
        return Outcome.fail("The server and the portal share no TLS version.", hints.UPDATE_CLIENT)
    if any(word in reason for word in _NOT_TLS_REASONS) or isinstance(exc, ssl.SSLEOFError):
        return Outcome.fail("The server does not speak TLS on this port.", hints.USE_TLS)
    return Outcome.fail(f"The TLS handshake failed ({exc.reason or exc}).", hints.USE_TLS)
