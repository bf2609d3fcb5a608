"""Real PostgreSQL and Redis/Valkey servers for the test suite (no network mocks).

Every server listens on a free port on 127.0.0.1 only, lives in its own temporary
directory and, when TLS is on, presents a certificate issued by a throwaway ``trustme``
CA.  Session fixtures (``pg_tls``, ``redis_tls`` ...) are shared; tests that mutate a
server (password rotation, CONFIG REWRITE ...) use ``fresh_pg`` / ``fresh_redis`` or
the ``make_pg`` / ``make_redis`` factories, or call ``start_postgres`` /
``start_redis`` directly and ``.stop()`` the result.

Processes are stopped by fixture finalizers, by an ``atexit`` hook, and - should the
test process be killed outright - by the kernel (``PR_SET_PDEATHSIG``).  Set
``ZEKTOR_KEEP_SERVER_DIRS=1`` to keep the data directories (logs!) for debugging.

Nothing here imports Django.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote, urlencode

import psycopg
import pytest
import redis
import trustme
from redis.backoff import NoBackoff
from redis.retry import Retry

from demo.servers import binaries
from demo.servers.binaries import ServerUnavailable
from demo.servers.files import tail, write_file
from demo.servers.ports import LOOPBACK, free_port
from demo.servers.postgres import (
    PG_SUPERUSER,
    as_pg_account,
    chown_tree,
    init_cluster,
    pg_hba,
    pg_settings,
    pg_superuser_dsn,
    probe_pg,
    set_pg_password,
    write_pg_conf,
)
from demo.servers.readiness import ServerStartError, pid_alive, wait_ready
from demo.servers.tls import LOCALHOST, TlsFiles, ca_pem, write_tls
from demo.servers.valkey import acl_line, probe_redis, redis_conf, set_redis_password

__all__ = [
    "HOSTILE_PASSWORD",
    "LOCALHOST",
    "LOOPBACK",
    "PG_APP_DB",
    "PG_APP_USER",
    "PG_SUPERUSER",
    "REDIS_ADMIN_USER",
    "REDIS_APP_USER",
    "WRONG_HOST",
    "ServerInfo",
    "ServerStartError",
    "Tarpit",
    "closed_port",
    "free_port",
    "fresh_pg",
    "fresh_redis",
    "get_other_ca",
    "get_test_ca",
    "make_pg",
    "make_redis",
    "other_ca",
    "pg_expired",
    "pg_plain",
    "pg_tls",
    "pg_unknown_ca",
    "pg_wrong_host",
    "redis_expired",
    "redis_plain",
    "redis_tls",
    "redis_unknown_ca",
    "redis_wrong_host",
    "require_binary",
    "start_postgres",
    "start_redis",
    "stop_all_servers",
    "tarpit",
    "test_ca",
]

# Quotes, backslash (+ a literal "\n"), shell expansions ($HOME, `id`, ${X}), URL
# specials and an already-encoded "%20", ERB "<%= %>", every ASCII punctuation mark a
# config format might care about, spaces and non-ASCII (NFKC-stable, so SCRAM's
# SASLprep leaves it alone).  No newline, no NUL, no leading/trailing space.
HOSTILE_PASSWORD = (
    "p'a\"s\\s\\n $HOME `id` ${X} %20 <%= 1 %> @:/?#%&=+;|<>{}[]~!* \u00fc\u20ac \u65e5\u672c"
)

WRONG_HOST = "db.example.invalid"
PG_APP_USER = "app_user"
PG_APP_DB = "zektor_app"
REDIS_APP_USER = "app"
REDIS_ADMIN_USER = "zektor-admin"

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


# --------------------------------------------------------------------------- binaries


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def unavailable(message: str) -> NoReturn:
    """Fail under ``CI=true`` (a missing server must not silently skip tests), else skip."""
    if _in_ci():
        pytest.fail(f"{message} (CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(message)  # only outside CI; under CI=true the line above failed


def require_binary(name: str, *alternatives: str) -> str:
    """Path of the first binary found; ``pytest.fail`` under CI=true, else ``pytest.skip``."""
    try:
        return binaries.require(name, *alternatives)
    except ServerUnavailable as exc:
        unavailable(str(exc))


@contextlib.contextmanager
def _skip_when_unavailable() -> Iterator[None]:
    """A missing binary or OS account skips the test (fails it under CI=true)."""
    try:
        yield
    except ServerUnavailable as exc:
        unavailable(str(exc))


# ------------------------------------------------------------------------------ ports


def reserve_closed_port() -> socket.socket:
    """A socket bound to 127.0.0.1:<port> that never listens: connects get ECONNREFUSED
    and nobody else can bind the port while the socket stays open."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((LOOPBACK, free_port()))
    return sock


# -------------------------------------------------------------------------------- TLS


@functools.cache
def get_test_ca() -> trustme.CA:
    """The per-process test CA every TLS server is signed by unless told otherwise."""
    return trustme.CA(organization_name="Zektor Test CA")


@functools.cache
def get_other_ca() -> trustme.CA:
    """An unrelated CA, for 'certificate signed by an unknown authority' tests."""
    return trustme.CA(organization_name="Unrelated Test CA")


# ----------------------------------------------------------------- processes, cleanup


_REGISTRY: dict[int, _ManagedProcess] = {}
_REGISTRY_LOCK = threading.Lock()
_PR_SET_PDEATHSIG = 1


def _keep_dirs() -> bool:
    return os.environ.get("ZEKTOR_KEEP_SERVER_DIRS", "") not in {"", "0"}


def _die_with_parent(sig: signal.Signals) -> Callable[[], None] | None:
    """preexec_fn making the kernel signal the child when this (main) thread dies.
    Only from the main thread: PDEATHSIG fires when the *spawning thread* exits."""
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def _set() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return _set


class _ManagedProcess:
    """One server process: spawn, wait until ``probe`` succeeds, stop, restart, clean up."""

    def __init__(
        self,
        *,
        name: str,
        argv: list[str],
        base_dir: Path,
        log_file: Path,
        stop_signal: signal.Signals,
        graceful_signal: signal.Signals,
        popen_kwargs: Mapping[str, Any],
    ) -> None:
        self.name = name
        self.argv = argv
        self.base_dir = base_dir
        self.log_file = log_file
        self.stop_signal = stop_signal
        self.graceful_signal = graceful_signal
        self.popen_kwargs = dict(popen_kwargs)
        self.probe: Callable[[], object] = lambda: None
        self.proc: subprocess.Popen[bytes] | None = None
        with _REGISTRY_LOCK:
            _REGISTRY[id(self)] = self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> float:
        """Spawn and wait until ready; returns the seconds it took."""
        began = time.monotonic()
        with open(self.log_file, "ab") as log:
            self.proc = subprocess.Popen(  # preexec_fn only sets PR_SET_PDEATHSIG
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent(self.stop_signal),
                **self.popen_kwargs,
            )
        try:
            self._wait_ready(began + timeout)
        except BaseException:
            self.terminate()
            raise
        return time.monotonic() - began

    def _wait_ready(self, deadline: float) -> None:
        proc = self.proc
        assert proc is not None
        wait_ready(
            self.probe,
            deadline,
            exited=lambda: None if proc.poll() is None else f"exited with code {proc.returncode}",
            failure=self._failure,
        )

    def _failure(self, what: str) -> str:
        return (
            f"{self.name} {what}; argv={self.argv}\n--- {self.log_file} ---\n{tail(self.log_file)}"
        )

    def send_signal(self, sig: signal.Signals) -> None:
        if self.proc is not None and self.running:
            self.proc.send_signal(sig)

    def terminate(self, sig: signal.Signals | None = None, timeout: float = STOP_TIMEOUT) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig or self.stop_signal)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # still alive, so the group id is ours
            proc.wait(timeout)

    def restart(self) -> float:
        self.terminate(self.graceful_signal)
        return self.start()

    def close(self) -> None:
        """Stop the process (immediately) and remove its directory. Idempotent."""
        try:
            self.terminate()
        finally:
            with _REGISTRY_LOCK:
                _REGISTRY.pop(id(self), None)
            if not _keep_dirs():
                shutil.rmtree(self.base_dir, ignore_errors=True)


def stop_all_servers() -> None:
    """Stop every server this process started (atexit hook; safe to call any time)."""
    with _REGISTRY_LOCK:
        handles = list(_REGISTRY.values())
    for handle in handles:
        with contextlib.suppress(Exception):
            handle.close()
    _remove_session_root()


_SESSION_ROOT: Path | None = None
_ROOT_LOCK = threading.Lock()


_ROOT_PREFIX = "zektor-servers-"


def _sweep_stale_roots() -> None:
    """Remove roots left behind by test processes that were SIGKILLed (their servers died
    with them via PDEATHSIG, only the files remain)."""
    if _keep_dirs():
        return
    for path in Path(tempfile.gettempdir()).glob(f"{_ROOT_PREFIX}*-*"):
        pid = path.name.removeprefix(_ROOT_PREFIX).split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or pid_alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            if path.stat().st_uid == os.geteuid():
                shutil.rmtree(path, ignore_errors=True)


def _session_root() -> Path:
    """/tmp/zektor-servers-*: world-traversable (0755) so the postgres account reaches it
    (pytest's own tmp dirs are 0700 root-owned, useless when we run as root)."""
    global _SESSION_ROOT
    with _ROOT_LOCK:
        if _SESSION_ROOT is None:
            _sweep_stale_roots()
            _SESSION_ROOT = Path(tempfile.mkdtemp(prefix=f"{_ROOT_PREFIX}{os.getpid()}-"))
            _SESSION_ROOT.chmod(0o755)
        return _SESSION_ROOT


def _remove_session_root() -> None:
    global _SESSION_ROOT, _PG_TEMPLATE
    with _ROOT_LOCK:
        if _SESSION_ROOT is not None and not _keep_dirs():
            shutil.rmtree(_SESSION_ROOT, ignore_errors=True)
        _SESSION_ROOT = None
        _PG_TEMPLATE = None


def _new_server_dir(name: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=_session_root()))
    path.chmod(0o755)
    return path


atexit.register(stop_all_servers)


# ------------------------------------------------------------------------ ServerInfo


@dataclass(frozen=True)
class ServerInfo:
    """How to reach one running server, plus helpers.  ``password`` is what ``username``
    logs in with (``HOSTILE_PASSWORD`` unless the server was started otherwise)."""

    engine: str  # "postgresql" or "valkey"
    host: str  # name clients use; compare cert_host for what the certificate names
    address: str  # "127.0.0.1"
    port: int
    username: str
    password: str
    database: str | None  # pg only
    ca_pem: str | None  # CA that signed the server cert (None without TLS)
    ca_file: str | None
    superuser_dsn: str | None  # pg: libpq conninfo over the unix socket, trust auth
    data_dir: str
    cert_host: str | None = None  # name the server certificate is issued for
    unix_socket: str | None = None  # pg: socket *directory*; redis: socket *path*
    admin_username: str | None = None  # redis: ACL user for administration
    admin_password: str | None = None
    log_file: str | None = None
    base_dir: str | None = None  # everything of this server lives below here
    startup_seconds: float = 0.0  # whole start_*() call, incl. initdb for the first pg
    _handle: _ManagedProcess | None = field(default=None, repr=False, compare=False)

    @property
    def tls(self) -> bool:
        return self.ca_file is not None

    @property
    def is_postgres(self) -> bool:
        return self.engine == "postgresql"

    # -- lifecycle
    def stop(self) -> None:
        """Stop immediately and delete the server's directory (idempotent)."""
        if self._handle is not None:
            self._handle.close()

    def restart(self) -> float:
        """Graceful stop + start with the same data/config files; returns seconds taken."""
        assert self._handle is not None, "not started by tests.servers"
        return self._handle.restart()

    def reload(self) -> None:
        """PostgreSQL: re-read postgresql.conf / pg_hba.conf (SIGHUP)."""
        assert self._handle is not None and self.is_postgres
        self._handle.send_signal(signal.SIGHUP)

    def log_tail(self, lines: int = 40) -> str:
        return tail(Path(self.log_file), lines) if self.log_file else ""

    # -- client parameters
    def url(self, **params: str) -> str:
        """postgresql:// or redis(s):// URL, every component percent-encoded."""
        userinfo = f"{quote(self.username, safe='')}:{quote(self.password, safe='')}"
        if self.is_postgres:
            query = {"sslmode": "verify-full", "sslrootcert": self.ca_file} if self.tls else {}
            query.update(params)
            base = f"postgresql://{userinfo}@{self.host}:{self.port}/{quote(self.database or '')}"
        else:
            query = dict(params)
            base = f"{'rediss' if self.tls else 'redis'}://{userinfo}@{self.host}:{self.port}/0"
        return f"{base}?{urlencode(query, quote_via=quote)}" if query else base

    def pg_kwargs(self, **overrides: Any) -> dict[str, Any]:
        """psycopg.connect() kwargs: verify-full against ca_file when TLS, else disable."""
        kwargs: dict[str, Any] = {
            "host": self.host,
            "hostaddr": self.address,
            "port": self.port,
            "user": self.username,
            "password": self.password,
            "dbname": self.database,
            "connect_timeout": 5,
        }
        tls = {"sslmode": "verify-full", "sslrootcert": self.ca_file}
        kwargs.update(tls if self.tls else {"sslmode": "disable"})
        kwargs.update(overrides)
        return {key: value for key, value in kwargs.items() if value is not None}

    def redis_kwargs(self, **overrides: Any) -> dict[str, Any]:
        """redis.Redis() kwargs: TLS with hostname check against ca_file when TLS."""
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "password": self.password,
            "socket_timeout": 5,
            "socket_connect_timeout": 5,
            # redis-py retries ConnectionError with backoff, and AuthenticationError *is* one:
            # a wrong password would take ~1.5 s to fail.  Tests want the answer now.
            "retry": Retry(NoBackoff(), 0),
        }
        if self.tls:
            kwargs.update(ssl=True, ssl_ca_certs=self.ca_file, ssl_cert_reqs="required")
            kwargs.update(ssl_check_hostname=True)
        kwargs.update(overrides)
        return kwargs

    def connect(self, **overrides: Any) -> Any:
        """A client logged in as ``username``: psycopg.Connection or redis.Redis."""
        if self.is_postgres:
            return psycopg.connect(**self.pg_kwargs(**overrides))
        return redis.Redis(**self.redis_kwargs(**overrides))

    def admin(self) -> Any:
        """Admin client over the unix socket: pg superuser (autocommit) / redis ACL admin."""
        if self.is_postgres:
            assert self.superuser_dsn is not None
            return psycopg.connect(self.superuser_dsn, autocommit=True, connect_timeout=5)
        return redis.Redis(
            unix_socket_path=self.unix_socket,
            username=self.admin_username,
            password=self.admin_password,
            socket_timeout=5,
        )

    def rotate_password(self, new_password: str, *, username: str | None = None) -> ServerInfo:
        """Change a login's password on the server (pg: SCRAM verifier; redis: ACL SETUSER
        + ACL SAVE) and return a ServerInfo carrying the new password."""
        user = username or self.username
        if self.is_postgres:
            with self.admin() as conn:
                set_pg_password(conn, user, new_password)
        else:
            with self.admin() as client:
                set_redis_password(client, user, new_password)
        return replace(self, password=new_password) if user == self.username else self


# ------------------------------------------------------------------------ PostgreSQL


_PG_TEMPLATE: Path | None = None
_TEMPLATE_LOCK = threading.Lock()
_TEMPLATE_SQL = f"""CREATE ROLE {PG_APP_USER} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE
CREATE DATABASE {PG_APP_DB} OWNER {PG_APP_USER}
"""


def _pg_template() -> Path:
    """initdb once per process (+ role and database, in single-user mode); servers copy it."""
    global _PG_TEMPLATE
    with _TEMPLATE_LOCK:
        if _PG_TEMPLATE is None:
            _PG_TEMPLATE = _build_pg_template(_new_server_dir("pg-template"))
        return _PG_TEMPLATE


def _build_pg_template(base: Path) -> Path:
    data = base / "data"
    chown_tree(base)
    init_cluster(data, _TEMPLATE_SQL)
    return data


def start_postgres(
    *,
    tls: bool = True,
    cert_host: str = LOCALHOST,
    ca: trustme.CA | None = None,
    expired: bool = False,
    password: str = HOSTILE_PASSWORD,
    name: str = "pg",
    settings: Mapping[str, object] | None = None,
) -> ServerInfo:
    """A fresh PostgreSQL (copied from the per-process initdb template).  Call ``.stop()``
    (fixtures do).  ``settings`` adds/overrides postgresql.conf entries."""
    began = time.monotonic()
    ca = (ca or get_test_ca()) if tls else None
    base = _new_server_dir(name)
    try:
        with _skip_when_unavailable():
            server = _start_postgres_in(
                base, ca, cert_host, expired, password, dict(settings or {})
            )
        return replace(server, startup_seconds=time.monotonic() - began)
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise


def _start_postgres_in(
    base: Path,
    ca: trustme.CA | None,
    cert_host: str,
    expired: bool,
    password: str,
    settings: dict[str, object],
) -> ServerInfo:
    data, sock = base / "data", base / "sock"
    shutil.copytree(_pg_template(), data, symlinks=True)
    sock.mkdir(mode=0o700)
    tls = write_tls(base / "tls", ca, cert_host, expired) if ca is not None else None
    ca_file = write_file(base / "ca.pem", ca_pem(ca)) if ca is not None else None
    write_file(data / "pg_hba.conf", pg_hba(tls is not None), 0o600)
    chown_tree(base)
    handle, port = _spawn_postgres(
        base, sock, lambda port: pg_settings(port, sock, tls, **settings)
    )
    try:
        with psycopg.connect(pg_superuser_dsn(sock, port), autocommit=True) as conn:
            set_pg_password(conn, PG_APP_USER, password)
    except BaseException:
        handle.close()
        raise
    return ServerInfo(
        engine="postgresql",
        host=LOCALHOST,
        address=LOOPBACK,
        port=port,
        username=PG_APP_USER,
        password=password,
        database=PG_APP_DB,
        ca_pem=ca_pem(ca) if ca is not None else None,
        ca_file=str(ca_file) if ca_file else None,
        superuser_dsn=pg_superuser_dsn(sock, port),
        data_dir=str(data),
        cert_host=cert_host if tls else None,
        unix_socket=str(sock),
        log_file=str(handle.log_file),
        base_dir=str(base),
        _handle=handle,
    )


def _spawn_postgres(
    base: Path, sock: Path, settings_for: Callable[[int], dict[str, object]]
) -> tuple[_ManagedProcess, int]:
    """Write postgresql.conf for a free port and start; retry if the port got taken."""
    data = base / "data"
    handle = _ManagedProcess(
        name=f"postgres[{base.name}]",
        argv=[str(binaries.pg_bindir() / "postgres"), "-D", str(data)],
        base_dir=base,
        log_file=base / "postgres.log",
        stop_signal=signal.SIGQUIT,  # = pg_ctl stop -m immediate
        graceful_signal=signal.SIGINT,  # = pg_ctl stop -m fast
        popen_kwargs=as_pg_account(base),
    )
    for attempt in range(3):
        port = free_port()
        write_pg_conf(data, settings_for(port))
        handle.probe = functools.partial(probe_pg, pg_superuser_dsn(sock, port))
        try:
            handle.start()
            return handle, port
        except ServerStartError as exc:
            if "already in use" not in str(exc) or attempt == 2:
                handle.close()
                raise
    raise AssertionError("unreachable")


# ----------------------------------------------------------------------------- Redis


def start_redis(
    *,
    tls: bool = True,
    cert_host: str = LOCALHOST,
    ca: trustme.CA | None = None,
    expired: bool = False,
    valid_days: int | None = None,
    password: str = HOSTILE_PASSWORD,
    name: str = "redis",
) -> ServerInfo:
    """A fresh redis-server/valkey-server started from a config FILE with an aclfile, so
    CONFIG REWRITE and ACL SAVE work.  Users ``default`` and ``app`` have ``password``;
    ``zektor-admin`` (random password) is for administration over the unix socket."""
    server_bin = require_binary("valkey-server", "redis-server")
    began = time.monotonic()
    ca = (ca or get_test_ca()) if tls else None
    base = _new_server_dir(name)
    try:
        tls_files = (
            write_tls(base / "tls", ca, cert_host, expired, valid_days=valid_days)
            if ca is not None
            else None
        )
        server = _start_redis_in(base, server_bin, ca, cert_host, tls_files, password)
        return replace(server, startup_seconds=time.monotonic() - began)
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise


def _start_redis_in(
    base: Path,
    server_bin: str,
    ca: trustme.CA | None,
    cert_host: str,
    tls: TlsFiles | None,
    password: str,
) -> ServerInfo:
    (base / "data").mkdir(mode=0o700)
    ca_file = write_file(base / "ca.pem", ca_pem(ca)) if ca is not None else None
    admin_password = secrets.token_hex(16)
    acl = acl_line("default", password) + acl_line(REDIS_APP_USER, password)
    write_file(base / "users.acl", acl + acl_line(REDIS_ADMIN_USER, admin_password), 0o600)
    handle, port = _spawn_redis(base, server_bin, tls, ca_file, admin_password)
    return ServerInfo(
        engine="valkey",
        host=LOCALHOST,
        address=LOOPBACK,
        port=port,
        username="default",
        password=password,
        database=None,
        ca_pem=ca_pem(ca) if ca is not None else None,
        ca_file=str(ca_file) if ca_file else None,
        superuser_dsn=None,
        data_dir=str(base / "data"),
        cert_host=cert_host if tls else None,
        unix_socket=str(base / "redis.sock"),
        admin_username=REDIS_ADMIN_USER,
        admin_password=admin_password,
        log_file=str(handle.log_file),
        base_dir=str(base),
        _handle=handle,
    )


def _spawn_redis(
    base: Path, server_bin: str, tls: TlsFiles | None, ca_file: Path | None, admin_password: str
) -> tuple[_ManagedProcess, int]:
    conf = base / "redis.conf"
    handle = _ManagedProcess(
        name=f"redis[{base.name}]",
        argv=[server_bin, str(conf)],
        base_dir=base,
        log_file=base / "redis.log",
        stop_signal=signal.SIGTERM,
        graceful_signal=signal.SIGTERM,
        popen_kwargs={"cwd": str(base)},
    )
    handle.probe = functools.partial(
        probe_redis, base / "redis.sock", REDIS_ADMIN_USER, admin_password
    )
    for attempt in range(3):
        port = free_port()
        write_file(conf, redis_conf(base, port, tls, ca_file), 0o600)
        try:
            handle.start()
            return handle, port
        except ServerStartError as exc:
            if "already in use" not in str(exc) or attempt == 2:
                handle.close()
                raise
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------- tarpit


class Tarpit:
    """Accepts TCP connections on 127.0.0.1 and never says a word (nor reads).  Holds at
    most ``max_held`` connections (oldest closed first); ``stop()`` closes everything."""

    host = LOCALHOST
    address = LOOPBACK

    def __init__(self, max_held: int = 128) -> None:
        self._listener = socket.create_server((LOOPBACK, free_port()), backlog=max_held)
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self.accepted = 0
        self._max_held = max_held
        self._held: deque[socket.socket] = deque()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="tarpit", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            self._held.append(conn)
            while len(self._held) > self._max_held:
                self._held.popleft().close()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=2)
        self._listener.close()
        while self._held:
            self._held.popleft().close()


# -------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def test_ca() -> trustme.CA:
    """The CA that signs every test server certificate (unless a test says otherwise)."""
    return get_test_ca()


@pytest.fixture(scope="session")
def other_ca() -> trustme.CA:
    """A CA nobody trusts."""
    return get_other_ca()


def _until_teardown(server: ServerInfo) -> Iterator[ServerInfo]:
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_tls(test_ca: trustme.CA) -> Iterator[ServerInfo]:
    """PostgreSQL, ssl=on, cert for localhost/127.0.0.1 from test_ca; host + hostssl allowed."""
    yield from _until_teardown(start_postgres(ca=test_ca, name="pg_tls"))


@pytest.fixture(scope="session")
def pg_plain() -> Iterator[ServerInfo]:
    """PostgreSQL with ssl=off."""
    yield from _until_teardown(start_postgres(tls=False, name="pg_plain"))


@pytest.fixture(scope="session")
def pg_wrong_host(test_ca: trustme.CA) -> Iterator[ServerInfo]:
    """Cert from test_ca but for db.example.invalid (no IP SAN)."""
    yield from _until_teardown(
        start_postgres(ca=test_ca, cert_host=WRONG_HOST, name="pg_wrong_host")
    )


@pytest.fixture(scope="session")
def pg_expired(test_ca: trustme.CA) -> Iterator[ServerInfo]:
    """Cert for localhost from test_ca, expired yesterday."""
    yield from _until_teardown(start_postgres(ca=test_ca, expired=True, name="pg_expired"))


@pytest.fixture(scope="session")
def pg_unknown_ca(other_ca: trustme.CA) -> Iterator[ServerInfo]:
    """Cert for localhost from other_ca (its ca_file/ca_pem are other_ca's!)."""
    yield from _until_teardown(start_postgres(ca=other_ca, name="pg_unknown_ca"))


@pytest.fixture(scope="session")
def redis_tls(test_ca: trustme.CA) -> Iterator[ServerInfo]:
    """Redis/Valkey TLS-only (port 0, tls-port N), cert for localhost from test_ca."""
    yield from _until_teardown(start_redis(ca=test_ca, name="redis_tls"))


@pytest.fixture(scope="session")
def redis_plain() -> Iterator[ServerInfo]:
    """Redis/Valkey without TLS, same users and password."""
    yield from _until_teardown(start_redis(tls=False, name="redis_plain"))


@pytest.fixture(scope="session")
def redis_wrong_host(test_ca: trustme.CA) -> Iterator[ServerInfo]:
    yield from _until_teardown(
        start_redis(ca=test_ca, cert_host=WRONG_HOST, name="redis_wrong_host")
    )


@pytest.fixture(scope="session")
def redis_expired(test_ca: trustme.CA) -> Iterator[ServerInfo]:
    yield from _until_teardown(start_redis(ca=test_ca, expired=True, name="redis_expired"))


@pytest.fixture(scope="session")
def redis_unknown_ca(other_ca: trustme.CA) -> Iterator[ServerInfo]:
    yield from _until_teardown(start_redis(ca=other_ca, name="redis_unknown_ca"))


@pytest.fixture(scope="session")
def tarpit() -> Iterator[Tarpit]:
    """TCP listener that accepts and never answers (for timeout tests)."""
    pit = Tarpit()
    try:
        yield pit
    finally:
        pit.stop()


@pytest.fixture(scope="session")
def closed_port() -> Iterator[int]:
    """A 127.0.0.1 port where connections are refused (kept reserved for the session)."""
    sock = reserve_closed_port()
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


def _factory(
    start: Callable[..., ServerInfo], ca: trustme.CA
) -> Iterator[Callable[..., ServerInfo]]:
    started: list[ServerInfo] = []

    def make(**kwargs: Any) -> ServerInfo:
        kwargs.setdefault("ca", ca)
        server = start(**kwargs)
        started.append(server)
        return server

    try:
        yield make
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def make_pg(test_ca: trustme.CA) -> Iterator[Callable[..., ServerInfo]]:
    """Factory ``make_pg(tls=, cert_host=, ca=, expired=, password=)``; stopped after the test."""
    yield from _factory(start_postgres, test_ca)


@pytest.fixture
def make_redis(test_ca: trustme.CA) -> Iterator[Callable[..., ServerInfo]]:
    """Factory ``make_redis(tls=, cert_host=, ca=, expired=, valid_days=, password=)``;
    stopped after the test."""
    yield from _factory(start_redis, test_ca)


@pytest.fixture
def fresh_pg(test_ca: trustme.CA) -> Iterator[ServerInfo]:
    """A throwaway TLS PostgreSQL (like pg_tls) the test may mutate."""
    yield from _until_teardown(start_postgres(ca=test_ca, name="fresh_pg"))


@pytest.fixture
def fresh_redis(test_ca: trustme.CA) -> Iterator[ServerInfo]:
    """A throwaway TLS Redis (like redis_tls) the test may mutate."""
    yield from _until_teardown(start_redis(ca=test_ca, name="fresh_redis"))
