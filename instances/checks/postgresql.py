"""Steps ``auth`` and ``query`` for PostgreSQL, through psycopg 3 to the vetted address."""

from __future__ import annotations

import functools
import math
from typing import Any

import psycopg

from instances.cafile import temporary_ca_file
from instances.checks import hints, tls
from instances.checks.report import Outcome, ServerFacts
from instances.checks.session import Background, Session, Target

# pg_stat_get_activity() is what the pg_stat_activity view reads, without the view's joins:
# half the time on a fresh backend, whose catalog caches are still cold.
FACTS_QUERY = (
    "select version(),"
    " (select count(*) from pg_stat_get_activity(NULL) a"
    "  where a.backend_type = 'client backend'),"
    " current_setting('max_connections')::int"
)

# libpq gives no SQLSTATE for a failed connection, only the server's (C locale) message.
_LOGIN_ERRORS = (
    ("password authentication failed", "28P01"),
    ("database", "3D000"),  # 'database "x" does not exist'
    ("role", "28000"),  # 'role "x" does not exist' / 'is not permitted to log in'
    ("no pg_hba.conf entry", "28000"),
    ("too many connections", "53300"),
    ("remaining connection slots", "53300"),
    ("the database system is", "57P03"),
)


def conninfo_params(target: Target, address: str, ca_file: str | None) -> dict[str, Any]:
    """psycopg.connect() keywords: the name for SNI and certificate checks, the vetted address
    to connect to, and the instance's sslmode."""
    params: dict[str, Any] = {
        "host": target.host,
        "hostaddr": address,
        "port": target.port,
        "user": target.username,
        "password": target.password,
        "dbname": target.database,
        "sslmode": target.sslmode,
        "gssencmode": "disable",
        "application_name": "zektor-portal-check",
    }
    if target.verifies_chain:
        params["sslrootcert"] = ca_file or "system"
    return params


def tls_and_login(session: Session) -> Outcome:
    """The tls step, with libpq's login to the vetted address started alongside: each needs
    its own server backend, and waiting for one before starting the other doubles the time.
    libpq's own sslmode still decides whether the password is sent, as in a sequential run;
    the auth step reports the login's result only when the tls step did not fail."""
    assert session.address is not None
    session.pending = Background(
        functools.partial(_login, session.target, session.address, session.overall_remaining()),
        name=f"login-{session.target.name}",
    )
    return tls.tls(session)


def _login(target: Target, address: str, seconds: float) -> psycopg.Connection:
    timeout = max(2, math.ceil(seconds))  # libpq's minimum; the engine cuts sooner
    with temporary_ca_file(target.ca_cert) as path:
        params = conninfo_params(target, address, path)
        return psycopg.connect(autocommit=True, connect_timeout=timeout, **params)


def auth(session: Session) -> Outcome:
    target = session.target
    session.close_socket()  # the tls step's probe
    assert session.pending is not None
    try:
        conn = session.pending.result(timeout=session.remaining())
    except psycopg.OperationalError as exc:
        return login_failure(target, _server_message(exc))
    except TimeoutError:
        return Outcome.fail(
            "The server did not complete the login in time.",
            hints.with_status(target, hints.TIMED_OUT),
        )
    session.adopt_client(conn, conn.pgconn.socket)
    return Outcome.ok(f"Logged in as {target.username} to database {target.database}.")


def _server_message(exc: psycopg.Error) -> str:
    text = str(exc)
    _, _, fatal = text.partition("FATAL:")
    return (fatal or text).strip().splitlines()[0] if text else ""


def sqlstate_of(message: str) -> str | None:
    lowered = message.lower()
    for needle, sqlstate in _LOGIN_ERRORS:
        if needle in lowered:
            return sqlstate
    return None


def login_failure(target: Target, message: str) -> Outcome:
    sqlstate = sqlstate_of(message)
    user, database = target.username, target.database
    if sqlstate == "28P01":
        return Outcome.fail(
            f"The server rejected the password for user {user} (or there is no such user).",
            hints.PASSWORD,
        )
    if sqlstate == "3D000":
        return Outcome.fail(f"There is no database named {database}.", hints.DATABASE)
    if sqlstate == "28000":
        return Outcome.fail(
            f"The server refused the login of {user}: {message}", hints.NOT_PERMITTED
        )
    if sqlstate == "53300":
        return Outcome.fail("The server has no free connection slots.", hints.POOL)
    if sqlstate == "57P03":
        return Outcome.fail(
            "The server is starting up or shutting down.",
            hints.with_status(target, hints.TIMED_OUT),
        )
    if "timeout" in message.lower():
        return Outcome.fail(
            "The server did not complete the login in time.",
            hints.with_status(target, hints.TIMED_OUT),
        )
    return Outcome.fail(f"The login failed: {message}", hints.with_status(target, hints.PASSWORD))


def query(session: Session) -> Outcome:
    conn = session.client
    assert isinstance(conn, psycopg.Connection)
    try:
        row = conn.execute(FACTS_QUERY).fetchone()
    except psycopg.Error as exc:
        return Outcome.fail(f"The query failed: {_server_message(exc)}", hints.QUERY)
    assert row is not None
    version = str(row[0]).split(" on ", 1)[0]
    session.server = ServerFacts(version=version, connections=row[1], max_connections=row[2])
    return Outcome.ok(f"{version} answered select version().")
