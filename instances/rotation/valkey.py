"""Valkey side of a rotation: dual passwords through ACLs, so clients never see downtime.

`ACL SETUSER <user> >new` adds the new password beside the old one; the old one is
removed (`<old`) only after the grace period. Servers without ACL users, or users
without ACL permission, fall back to `CONFIG SET requirepass` (no dual-password window)."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

from instances import outbound
from instances.models import Instance
from instances.rotation.errors import (
    LoginRefused,
    ServerRefused,
    ServerUnavailable,
    redact,
    vetted_address,
)

DUAL_PASSWORDS = True
REQUIREPASS_WARNING = (
    "The server did not let {user} change ACL passwords ({why}), so the portal used "
    "CONFIG SET requirepass: the old password stopped working at once, without a grace "
    "period. Restart clients with the new password."
)


def _vetted_socket(instance: Instance, timeout: float) -> socket.socket:
    """A socket to the vetted address, with TLS verified for the host name when enabled."""
    address = vetted_address(instance.host, instance.port)
    try:
        sock = outbound.connect_to(address, instance.port, timeout)
    except OSError as exc:
        raise ServerUnavailable(f"Could not connect to Valkey: {exc}") from None
    if not instance.tls:
        return sock
    try:
        context = outbound.tls_context(instance.ca_cert, verify=True)
        return context.wrap_socket(sock, server_hostname=instance.host)
    except (OSError, ssl.SSLError) as exc:
        sock.close()
        raise ServerUnavailable(f"Could not connect to Valkey over TLS: {exc}") from None


@contextmanager
def connect(instance: Instance, password: str) -> Iterator[redis.Redis]:
    """A fresh, authenticated connection; LoginRefused / ServerUnavailable on failure."""
    timeout = settings.ZEKTOR_CHECK_TIMEOUT
    pool = redis.ConnectionPool(
        connection_class=outbound.VettedConnection,
        vetted_socket=_vetted_socket(instance, timeout),
        host=instance.host,
        port=instance.port,
        username=instance.username,
        password=password,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        client = redis.Redis(connection_pool=pool, single_connection_client=True)
    except redis.AuthenticationError:
        pool.disconnect()
        raise LoginRefused("Valkey refused the user name and password.") from None
    except redis.RedisError as exc:
        pool.disconnect()
        message = redact(str(exc), password)
        raise ServerUnavailable(f"Could not connect to Valkey: {message}") from None
    with client:
        try:
            yield client
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            message = redact(str(exc), password)
            raise ServerUnavailable(f"Lost the connection to Valkey: {message}") from None


def logs_in(instance: Instance, password: str) -> bool:
    try:
        with connect(instance, password):
            return True
    except LoginRefused:
        return False


def _acl_setuser(client: redis.Redis, user: str, *rules: str) -> None:
    client.execute_command("ACL", "SETUSER", user, *rules)


def persist(client: redis.Redis) -> list[str]:
    """Write the users to the server's ACL file, else its config file; say when neither."""
    reasons = []
    for command in (("ACL", "SAVE"), ("CONFIG", "REWRITE")):
        try:
            client.execute_command(*command)
            return []
        except redis.ResponseError as exc:
            reasons.append(f"{' '.join(command)}: {exc}")
    return [
        "The change is live but not saved on the server, so a server restart would undo it "
        f"({'; '.join(reasons)}). Save it on the server side."
    ]


def _acl_unavailable(exc: redis.ResponseError) -> bool:
    return isinstance(exc, redis.exceptions.NoPermissionError) or "unknown command" in str(exc)


def _change(instance: Instance, login: str, rules: list[str], requirepass: str) -> list[str]:
    """ACL SETUSER with `rules`, or CONFIG SET requirepass when ACLs are not allowed."""
    with connect(instance, login) as client:
        try:
            _acl_setuser(client, instance.username, *rules)
            return persist(client)
        except redis.ResponseError as exc:
            why = redact(str(exc), login, requirepass, *rules)
            if instance.username != "default" or not _acl_unavailable(exc):
                raise ServerRefused(f"Valkey refused ACL SETUSER: {why}") from None
        try:
            client.config_set("requirepass", requirepass)
        except redis.ResponseError as exc:
            message = redact(str(exc), login, requirepass)
            raise ServerRefused(f"Valkey refused CONFIG SET requirepass: {message}") from None
        return [REQUIREPASS_WARNING.format(user=instance.username, why=why), *persist(client)]


def apply(instance: Instance, current: str, new: str) -> list[str]:
    """Add `new` beside `current` (both log in until `revoke`). Idempotent."""
    return _change(instance, current, [f">{new}"], new)


def revoke(instance: Instance, current: str, old: str) -> list[str]:
    """Remove the old password; the current one stays. Idempotent."""
    return _change(instance, current, [f"<{old}"], current)


def restore(instance: Instance, login: str, old: str, pending: str) -> list[str]:
    """Undo: the old password logs in again, the pending one no longer."""
    drop_pending = [f"<{pending}"] if logs_in(instance, pending) else []
    return _change(instance, login, [f">{old}", *drop_pending], old)


def preview(instance: Instance, password: str) -> dict[str, Any]:
    """Connected clients of the instance user (when the server lets it list them)."""
    with connect(instance, password) as client:
        try:
            clients = [c for c in client.client_list() if c.get("user") == instance.username]
        except redis.ResponseError:
            return {"clients": None, "addresses": [], "applications": [], "dual_passwords": True}
    own = [c for c in clients if c.get("cmd") != "client|list"]
    return {
        "clients": len(own),
        "addresses": sorted({c["addr"].rsplit(":", 1)[0] for c in own if c.get("addr")}),
        "applications": sorted({c["name"] for c in own if c.get("name")}),
        "dual_passwords": DUAL_PASSWORDS,
    }
