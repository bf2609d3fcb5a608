"""Typed parsing of the environment variables listed in shared/interface.md.

Every reader raises ``ConfigError`` naming the variable; ``settings.py`` turns that
into one line on stderr and exit status 2, so a bad deployment never starts.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import overload
from urllib.parse import unquote, urlsplit

DEFAULT_DENY_NETWORKS = (
    "127.0.0.0/8,::1/128,0.0.0.0/8,169.254.0.0/16,fe80::/10,224.0.0.0/4,ff00::/8,"
    "fd00:ec2::254/128,100.100.100.200/32"
)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
TEAM_ROLES = ("viewer", "member", "admin")


@dataclass(frozen=True)
class OIDCConfig:
    """Single sign-on with one OpenID Connect provider (``None`` when the issuer is unset)."""

    issuer: str
    client_id: str
    client_secret: str
    name: str
    scopes: tuple[str, ...]
    groups_claim: str
    team_roles: tuple[tuple[str, str, str], ...]


# smtp:// plain (port 25), smtp+tls:// STARTTLS (587), smtps:// TLS from the start (465).
EMAIL_SCHEMES = {"smtp": ("none", 25), "smtp+tls": ("starttls", 587), "smtps": ("ssl", 465)}
# One address, no display name: what a mail server accepts in MAIL FROM and RCPT TO.
EMAIL_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\\\"]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")


class ConfigError(Exception):
    """A configuration value is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class EmailServer:
    host: str
    port: int
    username: str
    password: str
    security: str  # "none" | "starttls" | "ssl"


class Env:
    # The readers are named after the types they return: past ``str`` and ``list`` below,
    # annotations name the builtins as ``builtins.str`` and ``builtins.list``.
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    @overload
    def str(self, name: str, default: str) -> str: ...
    @overload
    def str(self, name: str, default: None = None) -> str | None: ...
    def str(self, name: str, default: str | None = None) -> str | None:
        """The raw value; for NAME also reads NAME_FILE (a path whose content is the value)."""
        file_name = f"{name}_FILE"
        if file_name in self.environ:
            if name in self.environ:
                raise ConfigError(f"{name}: set either {name} or {file_name}, not both")
            path = Path(self.environ[file_name])
            try:
                return path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{file_name}: cannot read {path}: {exc.strerror}") from None
        value = self.environ.get(name)
        if value is None or value.strip() == "":
            return default
        return value.strip()

    def required(self, name: builtins.str, why: builtins.str) -> builtins.str:
        value = self.str(name)
        if value is None:
            raise ConfigError(f"{name} is required {why}")
        return value

    def bool(self, name: builtins.str, default: bool) -> bool:
        value = self.str(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{name}: expected true or false, got {value!r}")

    def float(self, name: builtins.str, default: float, *, minimum: float, maximum: float) -> float:
        value = self.str(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{name}: expected a number of seconds, got {value!r}") from None
        if not minimum <= number <= maximum:
            raise ConfigError(f"{name}: must be between {minimum:g} and {maximum:g}, got {value}")
        return number

    def int(
        self,
        name: builtins.str,
        default: builtins.int,
        *,
        minimum: builtins.int,
        maximum: builtins.int,
    ) -> builtins.int:
        value = self.str(name)
        if value is None:
            return default
        try:
            number = builtins.int(value)
        except ValueError:
            raise ConfigError(f"{name}: expected a whole number, got {value!r}") from None
        if not minimum <= number <= maximum:
            raise ConfigError(f"{name}: must be between {minimum} and {maximum}, got {value}")
        return number

    def list(self, name: builtins.str, default: builtins.str) -> builtins.list[builtins.str]:
        value = self.str(name, default) or ""
        return [item.strip() for item in value.split(",") if item.strip()]

    def networks(self, name: builtins.str, default: builtins.str) -> builtins.list[IPNetwork]:
        networks = []
        for item in self.list(name, default):
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ConfigError(f"{name}: {item!r} is not a CIDR network") from None
        return networks

    def encryption_keys(self, name: builtins.str) -> dict[builtins.str, bytes]:
        """Parse ``KEYID:BASE64(32 bytes),...``; insertion order keeps the primary first."""
        keys: dict[str, bytes] = {}
        for entry in self.list(name, ""):
            key_id, sep, encoded = entry.partition(":")
            if not sep or not key_id:
                raise ConfigError(f"{name}: each entry must look like KEYID:BASE64")
            if not key_id.replace("-", "").replace("_", "").isalnum() or len(key_id) > 32:
                raise ConfigError(f"{name}: key id {key_id!r} must be 1-32 of A-Z a-z 0-9 - _")
            if key_id in keys:
                raise ConfigError(f"{name}: key id {key_id!r} appears twice")
            keys[key_id] = decode_key(name, key_id, encoded)
        if not keys:
            raise ConfigError(f"{name}: no keys given")
        return keys

    def oidc(self) -> OIDCConfig | None:
        """ZEKTOR_OIDC_*: all of issuer, client id and secret, or none of them."""
        names = ("ZEKTOR_OIDC_ISSUER", "ZEKTOR_OIDC_CLIENT_ID", "ZEKTOR_OIDC_CLIENT_SECRET")
        issuer, client_id, secret = (self.str(name) for name in names)
        if issuer is None and client_id is None and secret is None:
            if self.str("ZEKTOR_OIDC_TEAM_ROLES"):
                raise ConfigError("ZEKTOR_OIDC_TEAM_ROLES: set ZEKTOR_OIDC_ISSUER too")
            return None
        for name, value in zip(names, (issuer, client_id, secret), strict=True):
            if value is None:
                raise ConfigError(f"{name} is required when any ZEKTOR_OIDC_* is set")
        scopes = tuple(self.str("ZEKTOR_OIDC_SCOPES", "openid profile email").split())
        if "openid" not in scopes:
            raise ConfigError("ZEKTOR_OIDC_SCOPES: must include openid")
        return OIDCConfig(
            issuer=http_url("ZEKTOR_OIDC_ISSUER", issuer or ""),
            client_id=client_id or "",
            client_secret=secret or "",
            name=self.str("ZEKTOR_OIDC_NAME", "SSO") or "SSO",
            scopes=scopes,
            groups_claim=self.str("ZEKTOR_OIDC_GROUPS_CLAIM", "groups") or "groups",
            team_roles=tuple(
                oidc_team_roles(
                    "ZEKTOR_OIDC_TEAM_ROLES",
                    self.str("ZEKTOR_OIDC_TEAM_ROLES", "") or "",
                    TEAM_ROLES,
                )
            ),
        )

    def email_server(self, name: builtins.str) -> EmailServer | None:
        """``smtp://``, ``smtp+tls://`` or ``smtps://[user:pass@]host[:port]``, or None."""
        value = self.str(name)
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in EMAIL_SCHEMES:
            raise ConfigError(f"{name}: must start with smtp://, smtp+tls:// or smtps://")
        security, default_port = EMAIL_SCHEMES[parts.scheme]
        try:
            port = default_port if parts.port is None else parts.port
        except ValueError:
            port = 0
        if not 1 <= port <= 65535:
            raise ConfigError(f"{name}: the port must be a number from 1 to 65535")
        if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ConfigError(f"{name}: expected SCHEME://[USER:PASSWORD@]HOST[:PORT]")
        return EmailServer(
            host=parts.hostname,
            port=port,
            username=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            security=security,
        )

    def email_address(
        self, name: builtins.str, default: builtins.str | None = None
    ) -> builtins.str | None:
        value = self.str(name, default)
        if value is not None and not EMAIL_ADDRESS.fullmatch(value):
            raise ConfigError(f"{name}: expected one e-mail address like alerts@example.com")
        return value

    def email(self) -> tuple[EmailServer | None, builtins.str | None]:
        """ZEKTOR_EMAIL_URL and ZEKTOR_EMAIL_FROM: both, or neither (mail off)."""
        server = self.email_server("ZEKTOR_EMAIL_URL")
        sender = self.email_address("ZEKTOR_EMAIL_FROM")
        if server is not None and sender is None:
            raise ConfigError("ZEKTOR_EMAIL_FROM is required when ZEKTOR_EMAIL_URL is set")
        return server, sender


def decode_key(name: str, key_id: str, encoded: str) -> bytes:
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{name}: key {key_id!r} is not valid base64") from None
    if len(raw) != 32:
        raise ConfigError(f"{name}: key {key_id!r} must be 32 bytes, got {len(raw)}")
    return raw


def oidc_team_roles(name: str, value: str, roles: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """Parse ``GROUP=TEAM:ROLE,...`` into (group, team, role) triples."""
    pairs = []
    for entry in (item.strip() for item in value.split(",")):
        if not entry:
            continue
        group, sep, target = entry.rpartition("=")
        team, colon, role = target.rpartition(":")
        if not sep or not group.strip() or not colon or not team.strip():
            raise ConfigError(f"{name}: each entry must look like GROUP=TEAM:ROLE, got {entry!r}")
        if role.strip() not in roles:
            raise ConfigError(f"{name}: role {role!r} must be one of {', '.join(roles)}")
        pairs.append((group.strip(), team.strip(), role.strip()))
    return pairs


def http_url(name: str, value: str) -> str:
    """An issuer URL: https, or http on a loopback host (development and tests)."""
    parts = urlsplit(value)
    loopback = parts.hostname in {"localhost", "127.0.0.1", "::1"}
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise ConfigError(f"{name}: expected an https:// URL, got {value!r}")
    if parts.scheme == "http" and not loopback:
        raise ConfigError(f"{name}: must use https:// (http only for localhost), got {value!r}")
    if parts.query or parts.fragment:
        raise ConfigError(f"{name}: must not have a query or fragment, got {value!r}")
    return value.rstrip("/")
