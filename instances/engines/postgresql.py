"""PostgreSQL through psycopg 3: the check's tls, auth and query steps, and the password
changes of a rotation, all over libpq connections to a vetted address.

The login never answers a cleartext or MD5 password request unless the instance allows MD5
(``require_auth``), and a new password travels as a SCRAM-SHA-256 verifier computed here,
so the plaintext never reaches the server (nor its statement logs)."""

from __future__ import annotations

import functools
import math
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.conf import settings
from psycopg import sql

from instances.cafile import temporary_ca_file
from instances.checks import hints, tls
from instances.checks.report import Outcome, ServerFacts
from instances.checks.session import Background, Session
from instances.engines.base import Engine, Target, first_vetted_address
from instances.rotation.errors import LoginRefused, ServerRefused, ServerUnavailable, redact

SSL_REQUEST = struct.pack("!II", 8, 80877103)
CHECK_APPLICATION = "zektor-portal-check"
ROTATION_APPLICATION = "zektor-portal-rotation"

# pg_stat_get_activity() is what the pg_stat_activity view reads, without the view's joins:
# half the time on a fresh backend, whose catalog caches are still cold.
FACTS_QUERY = (
    "select version(),"
    " (select count(*) from pg_stat_get_activity(NULL) a"
    "  where a.backend_type = 'client backend'),"
    " current_setting('max_connections')::int"
)
CLIENTS_QUERY = """
SELECT count(*),
       coalesce(array_agg(DISTINCT host(client_addr)) FILTER (WHERE client_addr IS NOT NULL),
                '{}'),
       coalesce(array_agg(DISTINCT application_name) FILTER (WHERE application_name <> ''),
                '{}')
FROM pg_stat_activity
WHERE usename = current_user AND pid <> pg_backend_pid()
"""

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
# What libpq says when require_auth stopped a login (the server asked for something else).
_WEAKER_AUTH = (
    ("requested a cleartext password", "the password in clear text"),
    ("requested a hashed password", "an MD5-hashed password"),
    ("did not complete authentication", "no password at all"),
    ("authentication method requirement", "a login method the portal does not use"),
)


def require_auth(target: Target) -> str:
    return "scram-sha-256,md5" if target.allow_md5 else "scram-sha-256"


def connect_params(
    target: Target, address: str, ca_file: str | None, application: str
) -> dict[str, Any]:
    """psycopg.connect() keywords, the one place they are made: the name for SNI and the
    certificate, the vetted address, the instance's sslmode with its CA (the system store
    when it has none), and the only login methods the portal answers."""
    params: dict[str, Any] = {
        "host": target.host,
        "hostaddr": address,
        "port": target.port,
        "user": target.username,
        "password": target.password,
        "dbname": target.database,
        "sslmode": target.sslmode,
        "require_auth": require_auth(target),
        "gssencmode": "disable",
        "application_name": application,
    }
    if POSTGRESQL.verifies_chain(target):
        params["sslrootcert"] = ca_file or "system"
    return params


def weaker_auth(message: str) -> str | None:
    """What the server asked for instead of SCRAM, when require_auth refused the login."""
    for needle, what in _WEAKER_AUTH:
        if needle in message:
            return what
    return None


def server_message(exc: psycopg.Error) -> str:
    text = str(exc)
    _, _, fatal = text.partition("FATAL:")
    return (fatal or text).strip().splitlines()[0] if text else ""


class PostgreSQL(Engine):
    name = "postgresql"
    label = "PostgreSQL"
    default_port = 5432
    default_username = None  # required
    has_database = True
    limit_setting = "max_connections"
    connections_word = "connections"
    reserved_connections = 3
    max_pool_size = 10
    templates = "instances/engines/postgresql/"
    password_change_note = " (as a SCRAM verifier: the plaintext never reaches the server)"
    dual_passwords = False

    def uses_tls(self, target: Target) -> bool:
        return True

    def verifies_chain(self, target: Target) -> bool:
        return target.sslmode in ("verify-ca", "verify-full")

    def verifies_host(self, target: Target) -> bool:
        return target.sslmode == "verify-full"

    def start_tls(self, sock: socket.socket) -> None:
        sock.sendall(SSL_REQUEST)
        answer = sock.recv(1)
        if answer == b"N":
            raise tls.NoTls("The server does not offer TLS: it declined PostgreSQL's SSL request.")
        if answer != b"S":
            raise tls.NoTls(
                "The server did not answer PostgreSQL's SSL request like PostgreSQL does."
            )

    # ---------------------------------------------------------------- check steps

    def tls_step(self, session: Session) -> Outcome:
        """The tls step, with libpq's login to the vetted address started alongside: each
        needs its own server backend, and waiting for one before starting the other doubles
        the time. libpq's own sslmode and require_auth still decide whether the password is
        sent, as in a sequential run; auth reports the login only when tls did not fail."""
        assert session.address is not None
        login = functools.partial(
            _check_login, session.target, session.address, session.overall_remaining()
        )
        session.pending = Background(login, name=f"login-{session.target.name}")
        return tls.tls(session)

    def auth(self, session: Session) -> Outcome:
        target = session.target
        session.close_socket()  # the tls step's probe
        assert session.pending is not None
        try:
            conn = session.pending.result(timeout=session.remaining())
        except psycopg.OperationalError as exc:
            return login_failure(target, server_message(exc))
        except TimeoutError:
            return Outcome.fail(
                "The server did not complete the login in time.",
                hints.with_status(target, hints.TIMED_OUT),
            )
        session.adopt_client(conn, conn.pgconn.socket)
        return Outcome.ok(f"Logged in as {target.username} to database {target.database}.")

    def query(self, session: Session) -> Outcome:
        conn = session.client
        assert isinstance(conn, psycopg.Connection)
        try:
            row = conn.execute(FACTS_QUERY).fetchone()
        except psycopg.Error as exc:
            return Outcome.fail(f"The query failed: {server_message(exc)}", hints.QUERY)
        assert row is not None
        version = str(row[0]).split(" on ", 1)[0]
        session.server = ServerFacts(version=version, connections=row[1], max_connections=row[2])
        return Outcome.ok(f"{version} answered select version().")

    # ------------------------------------------------------------------ passwords

    def logs_in(self, target: Target) -> bool:
        try:
            with _connect(target) as conn:
                conn.execute("SELECT 1")
        except LoginRefused:
            return False
        return True

    def set_password(self, target: Target, new: str) -> list[str]:
        """Make ``new`` the role's only password (PostgreSQL has one per role)."""
        with _connect(target) as conn:
            user = target.username
            verifier = conn.pgconn.encrypt_password(new.encode(), user.encode(), b"scram-sha-256")
            statement = sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(user), sql.Literal(verifier.decode("ascii"))
            )
            try:
                conn.execute(statement)
            except psycopg.Error as exc:
                message = redact(str(exc).strip(), target.password, new)
                raise ServerRefused(f"PostgreSQL refused ALTER ROLE: {message}") from None
        return []

    def retire_password(self, target: Target, old: str) -> list[str]:
        """``old`` still logs in although ALTER ROLE replaced it: set the current one again."""
        return self.set_password(target, target.password)

    def restore_password(self, target: Target, old: str, pending: str) -> list[str]:
        return self.set_password(target, old)

    def connected_clients(self, target: Target) -> dict[str, Any]:
        with _connect(target) as conn:
            try:
                row = conn.execute(CLIENTS_QUERY).fetchone()
            except psycopg.Error as exc:
                raise ServerRefused(f"PostgreSQL would not list the clients: {exc}") from None
        count, addresses, applications = row if row else (0, [], [])
        return {
            "clients": count,
            "addresses": sorted(addresses),
            "applications": sorted(applications),
            "dual_passwords": self.dual_passwords,
        }


POSTGRESQL = PostgreSQL()


def _check_login(target: Target, address: str, seconds: float) -> psycopg.Connection:
    timeout = max(2, math.ceil(seconds))  # libpq's minimum; the check cuts sooner
    with temporary_ca_file(target.ca_cert) as path:
        params = connect_params(target, address, path, CHECK_APPLICATION)
        return psycopg.connect(autocommit=True, connect_timeout=timeout, **params)


def sqlstate_of(message: str) -> str | None:
    lowered = message.lower()
    for needle, sqlstate in _LOGIN_ERRORS:
        if needle in lowered:
            return sqlstate
    return None


def login_failure(target: Target, message: str) -> Outcome:
    weaker = weaker_auth(message)
    if weaker is not None:
        return Outcome.fail(
            f"The server asked for {weaker} instead of a SCRAM-SHA-256 login, so the portal "
            "did not send the password.",
            hints.WEAKER_AUTH if not target.allow_md5 else hints.WEAKER_AUTH_MD5,
        )
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


@contextmanager
def _connect(target: Target) -> Iterator[psycopg.Connection]:
    """A fresh connection as the instance user; LoginRefused / ServerUnavailable on failure."""
    password = target.password
    address = first_vetted_address(target)
    with temporary_ca_file(target.ca_cert) as ca_file:
        params = connect_params(target, address, ca_file, ROTATION_APPLICATION)
        timeout = max(2, round(settings.ZEKTOR_CHECK_TIMEOUT))
        try:
            conn = psycopg.connect(autocommit=True, connect_timeout=timeout, **params)
        except psycopg.OperationalError as exc:
            message = redact(str(exc).strip(), password)
            if "password authentication failed" in message:
                raise LoginRefused(f"PostgreSQL refused the password: {message}") from None
            weaker = weaker_auth(message)
            if weaker is not None:
                raise ServerUnavailable(
                    f"PostgreSQL asked for {weaker} instead of a SCRAM-SHA-256 login, so the "
                    "portal did not send the password."
                ) from None
            raise ServerUnavailable(f"Could not connect to PostgreSQL: {message}") from None
        with conn:
            try:
                yield conn
            except psycopg.OperationalError as exc:
                message = redact(str(exc).strip(), password)
                raise ServerUnavailable(f"Lost the connection to PostgreSQL: {message}") from None
