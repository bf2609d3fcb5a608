"""Valkey (and Redis) through redis-py, always on a socket already connected to the vetted
address and, with TLS, verified for the host name: no second lookup, no other address.

A rotation uses dual passwords through ACLs, so clients never see downtime: ``ACL SETUSER
<user> >new`` adds the new password beside the old one, which is removed (``<old``) after the
grace period. Servers without ACL users, or users without ACL permission, fall back to
``CONFIG SET requirepass`` (no dual-password window)."""

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
from instances.checks import hints, tls
from instances.checks.report import Outcome, ServerFacts
from instances.checks.session import Session
from instances.engines.base import Engine, Target, first_vetted_address
from instances.rotation.errors import LoginRefused, ServerRefused, ServerUnavailable, redact

REQUIREPASS_WARNING = (
    "The server did not let {user} change ACL passwords ({why}), so the portal used "
    "CONFIG SET requirepass: the old password stopped working at once, without a grace "
    "period. Restart clients with the new password."
)


def client_on(sock: socket.socket, target: Target, timeout: float) -> redis.Redis:
    """A logged-in client on ``sock``; redis-py's errors when the login fails."""
    pool = redis.ConnectionPool(
        connection_class=outbound.VettedConnection,
        vetted_socket=sock,
        host=target.host,
        port=target.port,
        username=target.username,
        password=target.password,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        driver_info=None,  # no CLIENT SETINFO round trips
    )
    try:
        return redis.Redis(connection_pool=pool, single_connection_client=True)
    except BaseException:
        pool.disconnect()
        raise


class Valkey(Engine):
    name = "valkey"
    label = "Valkey"
    default_port = 6379
    default_username = "default"
    has_database = False
    limit_setting = "maxclients"
    connections_word = "clients"
    reserved_connections = 0
    max_pool_size = 20
    templates = "instances/engines/valkey/"
    password_change_note = ""
    dual_passwords = True

    def uses_tls(self, target: Target) -> bool:
        return target.tls

    def start_tls(self, sock: socket.socket) -> None:
        """Valkey speaks TLS from the first byte."""

    # Valkey clients with TLS on check the chain and the host name.
    def verifies_chain(self, target: Target) -> bool:
        return True

    def verifies_host(self, target: Target) -> bool:
        return True

    # ---------------------------------------------------------------- check steps

    def tls_step(self, session: Session) -> Outcome:
        return tls.tls(session)

    def auth(self, session: Session) -> Outcome:
        target, sock = session.target, session.sock
        assert sock is not None
        try:
            client = client_on(sock, target, session.remaining())
        except (redis.AuthenticationError, redis.ResponseError) as exc:
            return _login_failure(target, str(exc))
        except redis.TimeoutError:
            return Outcome.fail(
                "The server did not answer the login in time.",
                hints.with_status(target, hints.TIMED_OUT),
            )
        except redis.ConnectionError as exc:
            return Outcome.fail(f"The server closed the connection: {exc}", hints.USE_TLS)
        session.adopt_client(client, sock.fileno())
        return Outcome.ok(f"Logged in as {target.username}.")

    def query(self, session: Session) -> Outcome:
        client = session.client
        assert isinstance(client, redis.Redis)
        try:
            client.ping()
            info = client.info()
            max_clients = info.get("maxclients") or _config_maxclients(client)
        except redis.RedisError as exc:
            return Outcome.fail(f"PING or INFO failed: {exc}", hints.QUERY)
        version = _version(info)
        session.server = ServerFacts(
            version=version,
            connections=_int(info.get("connected_clients")),
            max_connections=_int(max_clients),
        )
        return Outcome.ok(f"{version} answered PING and INFO.")

    # ------------------------------------------------------------------ passwords

    def logs_in(self, target: Target) -> bool:
        try:
            with _connect(target):
                return True
        except LoginRefused:
            return False

    def set_password(self, target: Target, new: str) -> list[str]:
        """Add ``new`` beside the current password (both log in until retired)."""
        return _change(target, [f">{new}"], new)

    def retire_password(self, target: Target, old: str) -> list[str]:
        return _change(target, [f"<{old}"], target.password)

    def restore_password(self, target: Target, old: str, pending: str) -> list[str]:
        drop_pending = [f"<{pending}"] if self.logs_in(target.with_password(pending)) else []
        return _change(target, [f">{old}", *drop_pending], old)

    def connected_clients(self, target: Target) -> dict[str, Any]:
        """Connected clients of the instance user (when the server lets it list them)."""
        with _connect(target) as client:
            try:
                listed = client.client_list()
            except redis.ResponseError:
                listed = None
        own = [
            c
            for c in listed or []
            if c.get("user") == target.username and c.get("cmd") != "client|list"
        ]
        return {
            "clients": None if listed is None else len(own),
            "addresses": sorted({c["addr"].rsplit(":", 1)[0] for c in own if c.get("addr")}),
            "applications": sorted({c["name"] for c in own if c.get("name")}),
            "dual_passwords": self.dual_passwords,
        }


VALKEY = Valkey()


def _login_failure(target: Target, message: str) -> Outcome:
    user = target.username
    upper = message.upper()
    if "WRONGPASS" in upper or "INVALID USERNAME-PASSWORD" in upper or "INVALID PASSWORD" in upper:
        return Outcome.fail(
            f"The server rejected the password for user {user} (or there is no such user).",
            hints.PASSWORD,
        )
    if "WITHOUT ANY PASSWORD" in upper:
        return Outcome.fail("The server has no password set for this user.", hints.PASSWORD)
    if "NOAUTH" in upper or "AUTHENTICATION REQUIRED" in upper:
        return Outcome.fail("The server wants a login this check did not send.", hints.PASSWORD)
    return Outcome.fail(f"The login failed: {message}", hints.PASSWORD)


def _config_maxclients(client: redis.Redis) -> object:
    try:
        return client.config_get("maxclients").get("maxclients")
    except redis.ResponseError:  # CONFIG may be disabled or renamed on managed servers
        return None


def _version(info: dict[str, Any]) -> str:
    if info.get("valkey_version"):
        return f"Valkey {info['valkey_version']}"
    return f"Redis {info.get('redis_version', 'unknown')}"


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _vetted_socket(target: Target, timeout: float) -> socket.socket:
    """A socket to the first vetted address, with TLS verified for the host name when on."""
    address = first_vetted_address(target)
    try:
        sock = outbound.connect_to(address, target.port, timeout)
    except OSError as exc:
        raise ServerUnavailable(f"Could not connect to Valkey: {exc}") from None
    if not VALKEY.uses_tls(target):
        return sock
    try:
        context = outbound.tls_context(target.ca_cert, verify=True)
        return context.wrap_socket(sock, server_hostname=target.host)
    except (OSError, ssl.SSLError) as exc:
        sock.close()
        raise ServerUnavailable(f"Could not connect to Valkey over TLS: {exc}") from None


@contextmanager
def _connect(target: Target) -> Iterator[redis.Redis]:
    """A fresh, authenticated connection; LoginRefused / ServerUnavailable on failure."""
    timeout = settings.ZEKTOR_CHECK_TIMEOUT
    try:
        client = client_on(_vetted_socket(target, timeout), target, timeout)
    except redis.AuthenticationError:
        raise LoginRefused("Valkey refused the user name and password.") from None
    except redis.RedisError as exc:
        message = redact(str(exc), target.password)
        raise ServerUnavailable(f"Could not connect to Valkey: {message}") from None
    with client:
        try:
            yield client
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            message = redact(str(exc), target.password)
            raise ServerUnavailable(f"Lost the connection to Valkey: {message}") from None


def _persist(client: redis.Redis) -> list[str]:
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


def _change(target: Target, rules: list[str], requirepass: str) -> list[str]:
    """ACL SETUSER with ``rules``, or CONFIG SET requirepass when ACLs are not allowed."""
    login, user = target.password, target.username
    with _connect(target) as client:
        try:
            client.execute_command("ACL", "SETUSER", user, *rules)
            return _persist(client)
        except redis.ResponseError as exc:
            why = redact(str(exc), login, requirepass, *rules)
            if user != "default" or not _acl_unavailable(exc):
                raise ServerRefused(f"Valkey refused ACL SETUSER: {why}") from None
        try:
            client.config_set("requirepass", requirepass)
        except redis.ResponseError as exc:
            message = redact(str(exc), login, requirepass)
            raise ServerRefused(f"Valkey refused CONFIG SET requirepass: {message}") from None
        return [REQUIREPASS_WARNING.format(user=user, why=why), *_persist(client)]
