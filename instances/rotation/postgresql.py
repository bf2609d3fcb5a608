"""PostgreSQL side of a rotation: the instance user changes its own password.

The new password travels as a SCRAM-SHA-256 verifier computed on this side, so the
plaintext never reaches the server (nor its statement logs)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.conf import settings
from psycopg import sql

from instances.cafile import temporary_ca_file
from instances.models import Instance
from instances.rotation.errors import (
    LoginRefused,
    ServerRefused,
    ServerUnavailable,
    redact,
    vetted_address,
)

DUAL_PASSWORDS = False
APPLICATION_NAME = "zektor-portal-rotation"
CLIENTS_QUERY = """
SELECT count(*),
       coalesce(array_agg(DISTINCT host(client_addr)) FILTER (WHERE client_addr IS NOT NULL),
                '{}'),
       coalesce(array_agg(DISTINCT application_name) FILTER (WHERE application_name <> ''),
                '{}')
FROM pg_stat_activity
WHERE usename = current_user AND pid <> pg_backend_pid()
"""


@contextmanager
def connect(instance: Instance, password: str) -> Iterator[psycopg.Connection]:
    """A fresh connection as the instance user; LoginRefused / ServerUnavailable on failure."""
    with temporary_ca_file(instance.ca_cert) as ca_file:
        params: dict[str, Any] = {
            "host": instance.host,  # for SNI and the certificate check
            "hostaddr": vetted_address(instance.host, instance.port),
            "port": instance.port,
            "user": instance.username,
            "password": password,
            "dbname": instance.database,
            "sslmode": instance.sslmode,
            "connect_timeout": max(1, round(settings.ZEKTOR_CHECK_TIMEOUT)),
            "application_name": APPLICATION_NAME,
            "autocommit": True,
        }
        if ca_file:
            params["sslrootcert"] = ca_file
        try:
            conn = psycopg.connect(**params)
        except psycopg.OperationalError as exc:
            message = redact(str(exc).strip(), password)
            if "password authentication failed" in message:
                raise LoginRefused(f"PostgreSQL refused the password: {message}") from None
            raise ServerUnavailable(f"Could not connect to PostgreSQL: {message}") from None
        with conn:
            try:
                yield conn
            except psycopg.OperationalError as exc:
                message = redact(str(exc).strip(), password)
                raise ServerUnavailable(f"Lost the connection to PostgreSQL: {message}") from None


def logs_in(instance: Instance, password: str) -> bool:
    try:
        with connect(instance, password) as conn:
            conn.execute("SELECT 1")
    except LoginRefused:
        return False
    return True


def set_password(instance: Instance, login: str, new: str) -> list[str]:
    """Log in with `login` and make `new` the role's only password. Idempotent."""
    with connect(instance, login) as conn:
        user = instance.username
        verifier = conn.pgconn.encrypt_password(new.encode(), user.encode(), b"scram-sha-256")
        statement = sql.SQL("ALTER ROLE {} PASSWORD {}").format(
            sql.Identifier(user), sql.Literal(verifier.decode("ascii"))
        )
        try:
            conn.execute(statement)
        except psycopg.Error as exc:
            message = redact(str(exc).strip(), login, new)
            raise ServerRefused(f"PostgreSQL refused ALTER ROLE: {message}") from None
    return []


def apply(instance: Instance, current: str, new: str) -> list[str]:
    return set_password(instance, current, new)


def revoke(instance: Instance, current: str, old: str) -> list[str]:
    """The old password still logs in although ALTER ROLE replaced it: set current again."""
    return set_password(instance, current, current)


def restore(instance: Instance, login: str, old: str, pending: str) -> list[str]:
    return set_password(instance, login, old)


def preview(instance: Instance, password: str) -> dict[str, Any]:
    """Who is connected as the instance user now: they must restart with the new password."""
    with connect(instance, password) as conn:
        try:
            row = conn.execute(CLIENTS_QUERY).fetchone()
        except psycopg.Error as exc:
            raise ServerRefused(f"PostgreSQL would not list the clients: {exc}") from None
    count, addresses, applications = row if row else (0, [], [])
    return {
        "clients": count,
        "addresses": sorted(addresses),
        "applications": sorted(applications),
        "dual_passwords": DUAL_PASSWORDS,
    }
