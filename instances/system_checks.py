"""Django system checks for configuration that starts but is probably a mistake."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.core.checks import Tags, Warning, register

METADATA_ADDRESSES = tuple(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)


@register(Tags.security, deploy=True)
def check_database_for_production(app_configs, **kwargs) -> list[Warning]:
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3") and not settings.DEBUG:
        return [
            Warning(
                "The portal's database is SQLite.",
                hint="Set DATABASE_URL to a PostgreSQL database when several app servers run.",
                id="zektor.W001",
            )
        ]
    return []


@register(Tags.security)
def check_deny_networks(app_configs, **kwargs) -> list[Warning]:
    warnings = []
    reachable = [
        address
        for address in METADATA_ADDRESSES
        if not any(address in net for net in settings.ZEKTOR_CHECK_DENY_NETWORKS)
    ]
    if reachable:
        warnings.append(
            Warning(
                "ZEKTOR_CHECK_DENY_NETWORKS lets connection tests reach cloud metadata "
                f"addresses ({', '.join(map(str, reachable))}).",
                hint="Keep 169.254.0.0/16, fd00:ec2::254/128 and 100.100.100.200/32 denied.",
                id="zektor.W002",
            )
        )
    if settings.ZEKTOR_CHECK_ALLOW_LOOPBACK and not settings.DEBUG:
        warnings.append(
            Warning(
                "ZEKTOR_CHECK_ALLOW_LOOPBACK lets connection tests and rotations reach the "
                "portal's own host.",
                hint="Set it only for development and tests.",
                id="zektor.W005",
            )
        )
    return warnings


@register(Tags.security)
def check_timeout(app_configs, **kwargs) -> list[Warning]:
    if settings.ZEKTOR_CHECK_TIMEOUT > 30:
        return [
            Warning(
                f"ZEKTOR_CHECK_TIMEOUT is {settings.ZEKTOR_CHECK_TIMEOUT:g} seconds.",
                hint="Each running connection test holds a web worker; 10 seconds is plenty.",
                id="zektor.W003",
            )
        ]
    return []


@register(Tags.security)
def check_encryption_keys(app_configs, **kwargs) -> list[Warning]:
    if not settings.DEBUG and "dev" in settings.ZEKTOR_ENCRYPTION_KEYS:
        return [
            Warning(
                "ZEKTOR_ENCRYPTION_KEYS contains the key id 'dev' used by development mode.",
                hint="Generate a production key with `manage.py generate_encryption_key`.",
                id="zektor.W004",
            )
        ]
    return []


@register(Tags.security)
def check_trusted_proxies(app_configs, **kwargs) -> list[Warning]:
    everyone = [net for net in settings.ZEKTOR_TRUSTED_PROXIES if net.prefixlen == 0]
    if everyone:
        return [
            Warning(
                f"ZEKTOR_TRUSTED_PROXIES trusts every address ({everyone[0]}).",
                hint="Then any client can choose its address in X-Forwarded-For and dodge "
                "sign-in lockout; list only your reverse proxies' addresses.",
                id="zektor.W012",
            )
        ]
    return []
