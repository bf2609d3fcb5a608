"""Steps ``auth`` and ``query`` for Valkey, through redis-py on the socket the earlier steps
opened (and, with TLS, verified for the host name): no second connection, no new lookup."""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from instances.checks import hints
from instances.checks.report import Outcome, ServerFacts
from instances.checks.session import Session
from instances.outbound import VettedConnection


def client_for(session: Session) -> redis.Redis:
    target = session.target
    assert session.sock is not None
    pool = redis.ConnectionPool(
        connection_class=VettedConnection,
        vetted_socket=session.sock,
        host=target.host,
        port=target.port,
        username=target.username,
        password=target.password,
        socket_timeout=session.remaining(),
        retry=Retry(NoBackoff(), 0),
        driver_info=None,  # no CLIENT SETINFO round trips
    )
    return redis.Redis(connection_pool=pool, single_connection_client=True)


def auth(session: Session) -> Outcome:
    target = session.target
    sock = session.sock
    try:
        client = client_for(session)
    except redis.AuthenticationError as exc:
        return _login_failure(session, str(exc))
    except redis.ResponseError as exc:
        return _login_failure(session, str(exc))
    except redis.TimeoutError:
        return Outcome.fail(
            "The server did not answer the login in time.",
            hints.with_status(target, hints.TIMED_OUT),
        )
    except redis.ConnectionError as exc:
        return Outcome.fail(f"The server closed the connection: {exc}", hints.USE_TLS)
    session.adopt_client(client, sock.fileno() if sock else None)
    return Outcome.ok(f"Logged in as {target.username}.")


def _login_failure(session: Session, message: str) -> Outcome:
    user = session.target.username
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


def query(session: Session) -> Outcome:
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


def _config_maxclients(client: redis.Redis) -> object:
    try:
        return client.config_get("maxclients").get("maxclients")
    except redis.ResponseError:  # CONFIG may be disabled or renamed on managed servers
        return None


def _version(info: dict) -> str:
    if info.get("valkey_version"):
        return f"Valkey {info['valkey_version']}"
    return f"Redis {info.get('redis_version', 'unknown')}"


def _int(value: object) -> int | None:
    if not isinstance(value, str | bytes | int | float):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
