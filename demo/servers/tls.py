"""Server certificates from a private CA (trustme), written where servers read them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme

from demo.servers.files import write_file
from demo.servers.ports import LOOPBACK

LOCALHOST = "localhost"


def ca_pem(ca: trustme.CA) -> str:
    return ca.cert_pem.bytes().decode("ascii")


def issue_server_cert(
    ca: trustme.CA,
    cert_host: str,
    *,
    expired: bool = False,
    valid_days: int | None = None,
    organization: str | None = None,
) -> trustme.LeafCert:
    """Leaf cert for cert_host; 'localhost' also gets IP SANs 127.0.0.1 and ::1. Valid
    for ``valid_days`` from now (trustme's default: until the year 3000), or expired.
    ``organization`` replaces trustme's 'Testing cert' names in the subject."""
    identities = (cert_host, LOOPBACK, "::1") if cert_host == LOCALHOST else (cert_host,)
    names: dict[str, Any] = {"common_name": cert_host}
    if organization is not None:
        names.update(organization_name=organization, organization_unit_name="Servers")
    now = dt.datetime.now(dt.UTC)
    if expired:
        names.update(not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1))
    elif valid_days is not None:
        names.update(not_before=now, not_after=now + dt.timedelta(days=valid_days))
    return ca.issue_cert(*identities, **names)


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path


def write_tls(
    directory: Path,
    ca: trustme.CA,
    cert_host: str,
    expired: bool = False,
    *,
    valid_days: int | None = None,
    organization: str | None = None,
) -> TlsFiles:
    """A new directory with server.crt (chain) and server.key (0600)."""
    directory.mkdir(mode=0o700)
    leaf = issue_server_cert(
        ca, cert_host, expired=expired, valid_days=valid_days, organization=organization
    )
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    return TlsFiles(
        cert=write_file(directory / "server.crt", chain),
        key=write_file(directory / "server.key", leaf.private_key_pem.bytes(), 0o600),
    )
