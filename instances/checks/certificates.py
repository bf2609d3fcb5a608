"""Reading a server certificate: names, dates and whether it is meant for a host."""

from __future__ import annotations

import datetime as dt
import ipaddress

from cryptography import x509
from cryptography.x509.oid import NameOID

from instances.checks.report import Certificate


def load(der: bytes | None) -> x509.Certificate:
    if der is None:  # ssl gives None when the server sent no certificate
        raise ValueError("the server sent no certificate")
    return x509.load_der_x509_certificate(der)


def names(cert: x509.Certificate) -> list[str]:
    """The DNS names and IP addresses the certificate is for (its common name without SANs)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        common_names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return [str(attr.value) for attr in common_names]  # always str for this OID
    return san.get_values_for_type(x509.DNSName) + [
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)
    ]


def matches_host(cert: x509.Certificate, host: str) -> bool:
    try:
        wanted_ip = ipaddress.ip_address(host)
    except ValueError:
        wanted_ip = None
    for name in names(cert):
        if wanted_ip is not None:
            if _same_ip(name, wanted_ip):
                return True
        elif _dns_match(name.lower().rstrip("."), host.lower().rstrip(".")):
            return True
    return False


def _same_ip(name: str, wanted: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        return ipaddress.ip_address(name) == wanted
    except ValueError:
        return False


def _dns_match(pattern: str, host: str) -> bool:
    if not pattern.startswith("*."):
        return pattern == host
    label, _, rest = host.partition(".")
    return bool(label) and rest == pattern[2:]


def days_left(cert: x509.Certificate, now: dt.datetime) -> int:
    return (cert.not_valid_after_utc - now).days


def in_validity_period(cert: x509.Certificate, now: dt.datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def describe(
    cert: x509.Certificate, *, now: dt.datetime, hostname_match: bool, chain_valid: bool
) -> Certificate:
    return Certificate(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_after=cert.not_valid_after_utc,
        days_left=days_left(cert, now),
        hostname_match=hostname_match,
        chain_valid=chain_valid,
    )
