"""The demo servers of ``make run``: TLS PostgreSQL and Valkey/Redis on localhost with
certificates from a demo CA, running in the background so they outlive the command that
started them. Everything lives under one directory (``.data/demo`` by default):

    ca.pem, ca-key.pem   the demo CA (its key, 0600, only re-issues missing server certs)
    state.json           ports and pids of the last start (no secrets)
    postgres/            tls/, data/, sock/, postgres.log (owned by ``postgres`` when root)
    valkey/              tls/, data/, redis.conf, users.acl (SHA-256 only), redis.pid, redis.log

Run as root, PostgreSQL runs as the ``postgres`` account, which cannot enter a clone in
root's home folder or in a ``mktemp -d`` folder: then ``postgres`` is a link to a
directory of its own under ``/var/tmp`` (``SHARED_PARENT``), removed by ``remove_all``.

Starting is idempotent: a running server is reused, a stopped one restarts from its data
directory on its recorded port (or a free one if that port got taken). Passwords are
never stored here: the caller passes them in and the servers keep only verifiers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis
import trustme
from redis.backoff import NoBackoff
from redis.retry import Retry

from demo.servers.binaries import pg_bindir, require
from demo.servers.files import tail, write_file
from demo.servers.ports import free_port, port_free
from demo.servers.postgres import (
    chown_tree,
    init_cluster,
    pg_account,
    pg_can_enter,
    pg_hba,
    pg_settings,
    pg_superuser_dsn,
    run_as_pg,
    set_pg_password,
    write_pg_conf,
)
from demo.servers.readiness import ServerStartError, pid_alive, wait_ready
from demo.servers.tls import LOCALHOST, TlsFiles, ca_pem, write_tls
from demo.servers.valkey import acl_line, probe_redis, redis_conf
from instances.engines import postgresql, valkey
from instances.tiers import limits_for

POSTGRESQL, VALKEY = postgresql.POSTGRESQL.name, valkey.VALKEY.name
PREFERRED_PORTS = {POSTGRESQL: 55432, VALKEY: 56379}
PG_USER = PG_DATABASE = "shop"
VALKEY_USER = "default"
# The demo instances' tier: the servers' connection limits match it, so checks say ok.
DEMO_TIER = "standard"
START_TIMEOUT = 30
# Server certificates look like real ones but last long enough never to need renewing.
CERT_DAYS = 3650
ORGANIZATION = "Zektor Demo"
STOP_TIMEOUT = 10.0
# Where the demo PostgreSQL lives when its account cannot enter the demo directory.
SHARED_PARENT = Path("/var/tmp")  # noqa: S108 - a directory of our own is made in it, checked
SHARED_PREFIX = "zektor-demo-"
_BOOTSTRAP_SQL = (
    f"CREATE ROLE {PG_USER} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE\n"
    f"CREATE DATABASE {PG_DATABASE} OWNER {PG_USER}\n"
)
# Characters that break naive quoting in URIs, shells and config files.
_HOSTILE = ("'\"$", " @", ":/")


@dataclass(frozen=True)
class DemoServer:
    engine: str
    port: int
    pid: int
    reused: bool  # True when it was already running


def new_password() -> str:
    """Random, with quotes, $, space, @, : and / mixed in to show off escaping."""
    parts = [secrets.token_urlsafe(6) for _ in range(len(_HOSTILE) + 1)]
    return parts[0] + "".join(mark + part for mark, part in zip(_HOSTILE, parts[1:], strict=True))


def demo_ca(root: Path) -> trustme.CA:
    """The demo CA, created on first use and kept in ``root``."""
    cert, key = root / "ca.pem", root / "ca-key.pem"
    if cert.exists() and key.exists():
        return trustme.CA.from_pem(cert.read_bytes(), key.read_bytes())
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # the postgres account must reach postgres/ below it
    ca = trustme.CA(organization_name=ORGANIZATION, organization_unit_name="Demo CA")
    write_file(key, ca.private_key_pem.bytes(), 0o600)
    write_file(cert, ca_pem(ca))
    return ca


def recorded_port(root: Path, engine: str) -> int:
    """The port the engine's server had last time, else its preferred port."""
    return int(_read_state(root).get(engine, {}).get("port", PREFERRED_PORTS[engine]))


def _read_state(root: Path) -> dict[str, dict[str, int]]:
    try:
        return json.loads((root / "state.json").read_text())
    except (OSError, ValueError):
        return {}


def _record(root: Path, server: DemoServer) -> DemoServer:
    state = _read_state(root)
    state[server.engine] = {"port": server.port, "pid": server.pid}
    write_file(root / "state.json", json.dumps(state, indent=2) + "\n")
    return server


def _choose_port(root: Path, engine: str) -> int:
    for port in (recorded_port(root, engine), PREFERRED_PORTS[engine]):
        if port_free(port):
            return port
    return free_port()


def _tls_files(base: Path) -> TlsFiles:
    return TlsFiles(cert=base / "tls" / "server.crt", key=base / "tls" / "server.key")


# ------------------------------------------------------------------------ PostgreSQL


def ensure_postgres(root: Path, ca: trustme.CA, password: str) -> DemoServer:
    """Create, start or reuse the demo PostgreSQL, and give ``shop`` this password."""
    base = _place_postgres(root)
    data, sock = base / "data", base / "sock"
    if not (data / "PG_VERSION").exists():
        _create_postgres(base, ca)
    running = _postmaster(data)
    if running is None:
        port = _choose_port(root, POSTGRESQL)
        tier_limit = limits_for(POSTGRESQL, DEMO_TIER).max_connections
        write_pg_conf(data, pg_settings(port, sock, _tls_files(base), max_connections=tier_limit))
        _pg_ctl(base, "start", "-l", str(base / "postgres.log"), "-w", "-t", str(START_TIMEOUT))
        running = _postmaster(data)
        if running is None:
            raise ServerStartError(f"PostgreSQL did not stay up:\n{tail(base / 'postgres.log')}")
        reused = False
    else:
        reused = True
    pid, port = running
    with psycopg.connect(pg_superuser_dsn(sock, port), autocommit=True) as conn:
        set_pg_password(conn, PG_USER, password)
    return _record(root, DemoServer(POSTGRESQL, port, pid, reused))


def _create_postgres(base: Path, ca: trustme.CA) -> None:
    if base.exists():  # a half-made cluster from an interrupted first start
        shutil.rmtree(base, ignore_errors=True)
    base.mkdir(mode=0o755)
    try:
        (base / "sock").mkdir(mode=0o700)
        write_tls(base / "tls", ca, LOCALHOST, valid_days=CERT_DAYS, organization=ORGANIZATION)
        chown_tree(base)
        init_cluster(base / "data", _BOOTSTRAP_SQL)
        write_file(base / "data" / "pg_hba.conf", pg_hba(tls=True), 0o600)
        chown_tree(base / "data" / "pg_hba.conf")
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise


def postgres_home(root: Path) -> Path:
    """Where the demo PostgreSQL lives: ``root/postgres`` or the directory it links to."""
    link = root / "postgres"
    return Path(os.readlink(link)) if link.is_symlink() else link


def _place_postgres(root: Path) -> Path:
    """``postgres_home``, choosing it on first use: ``root/postgres`` when the PostgreSQL
    account can enter ``root`` (or already runs there), else a directory of its own under
    ``SHARED_PARENT``, linked from ``root/postgres``."""
    pg_bindir()  # without PostgreSQL installed, say that first
    link = root / "postgres"
    if link.is_symlink():
        if postgres_home(root).parent.is_dir():
            return postgres_home(root)
        link.unlink()  # its directory went away (a cleaned /var/tmp): start afresh
    if pg_can_enter(root) or _postmaster(link / "data") is not None:
        return link
    shutil.rmtree(link, ignore_errors=True)  # a cluster its account can no longer reach
    return _shared_postgres(root)


def _shared_postgres(root: Path) -> Path:
    """A new home for the demo PostgreSQL of ``root`` under ``SHARED_PARENT``."""
    link = root / "postgres"
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    parent = _own_directory(SHARED_PARENT / f"{SHARED_PREFIX}{digest}")
    if not pg_can_enter(parent):
        account = pg_account()
        who = account.pw_name if account else "PostgreSQL"
        raise ServerStartError(
            f"the {who!r} account, which runs PostgreSQL, can enter neither {root} (a directory "
            f"above it is closed to other users) nor {parent}. Clone the repository where that "
            "account can enter (e.g. under /srv or /opt), or run make run as a non-root user."
        )
    base = parent / "postgres"
    _remove_postgres(base)  # left by an earlier demo directory at the same path
    link.symlink_to(base, target_is_directory=True)
    return base


def _own_directory(path: Path) -> Path:
    """``path`` as a directory that we own and only we may write (0755), made if missing:
    in a world-writable parent someone else may have made it first."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o755)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise ServerStartError(
            f"{path} is not a directory of this user that only it may write; remove it "
            "and run make run again"
        )
    path.chmod(0o755)
    return path


def _remove_postgres(base: Path) -> None:
    if _postmaster(base / "data") is not None:
        _pg_ctl(base, "stop", "-m", "fast", "-w", "-t", str(int(STOP_TIMEOUT)))
    shutil.rmtree(base, ignore_errors=True)


def _postmaster(data: Path) -> tuple[int, int] | None:
    """(pid, port) of the running postmaster, from postmaster.pid; None when not running."""
    try:
        lines = (data / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    return (pid, port) if pid_alive(pid) else None


def _pg_ctl(base: Path, action: str, *args: str) -> None:
    argv = [str(pg_bindir() / "pg_ctl"), action, "-D", str(base / "data"), "-s", *args]
    try:
        run_as_pg(argv, base, f"pg_ctl {action}")
    except ServerStartError as exc:
        raise ServerStartError(
            f"{exc}\n--- {base / 'postgres.log'} ---\n{tail(base / 'postgres.log')}"
        ) from None


def stop_postgres(root: Path) -> int | None:
    """Fast shutdown; the pid it had, or None when it was not running."""
    base = postgres_home(root)
    running = _postmaster(base / "data")
    if running is None:
        return None
    _pg_ctl(base, "stop", "-m", "fast", "-w", "-t", str(int(STOP_TIMEOUT)))
    return running[0]


# ---------------------------------------------------------------------------- Valkey


def valkey_home(root: Path) -> Path:
    return root / "valkey"


def ensure_valkey(root: Path, ca: trustme.CA, password: str) -> DemoServer:
    """Create, start or reuse the demo Valkey/Redis, with this password for ``default``.
    A running server that refuses the password restarts with a new ACL file."""
    server_bin = require("valkey-server", "redis-server")
    base = valkey_home(root)
    if not (base / "tls").exists():
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        (base / "data").mkdir(mode=0o700, exist_ok=True)
        write_tls(base / "tls", ca, LOCALHOST, valid_days=CERT_DAYS, organization=ORGANIZATION)
    pid = _valkey_pid(base)
    if pid is not None:
        port = _valkey_port(base, password)
        if port is not None:
            return _record(root, DemoServer(VALKEY, port, pid, reused=True))
        stop_valkey(root)
    write_file(base / "users.acl", acl_line(VALKEY_USER, password), 0o600)
    port = _choose_port(root, VALKEY)
    conf = redis_conf(base, port, _tls_files(base), root / "ca.pem", daemonize=True)
    write_file(base / "redis.conf", conf, 0o600)
    pid = _start_valkey(server_bin, base, password)
    return _record(root, DemoServer(VALKEY, port, pid, reused=False))


def _start_valkey(server_bin: str, base: Path, password: str) -> int:
    """Run the server (it forks into the background) and wait until it answers. The child
    writes its pidfile only once it listens, so a failed start is spotted in its log."""
    log = base / "redis.log"
    (base / "redis.pid").unlink(missing_ok=True)
    offset = log.stat().st_size if log.exists() else 0
    result = subprocess.run(  # noqa: S603 - argv names the server binary we found
        [server_bin, str(base / "redis.conf")], cwd=base, capture_output=True, check=False
    )
    failure = f"{server_bin} did not start; --- {log} ---\n"
    if result.returncode != 0:
        raise ServerStartError(failure + result.stdout.decode(errors="replace")[-2000:])

    def exited() -> str | None:
        pid = _logged_pid(log, offset)
        return "exited" if pid is not None and not pid_alive(pid) else None

    wait_ready(
        lambda: probe_redis(base / "redis.sock", VALKEY_USER, password),
        time.monotonic() + START_TIMEOUT,
        exited=exited,
        failure=lambda why: f"{failure}{why}\n{tail(log)}",
    )
    pid = _valkey_pid(base)
    assert pid is not None, "the server answers, so it wrote its pidfile"
    return pid


def _logged_pid(log: Path, offset: int) -> int | None:
    """Pid of the server process in its log lines ('1234:M ...') since ``offset``."""
    with contextlib.suppress(OSError), open(log, "rb") as handle:
        handle.seek(offset)
        match = re.search(rb"^(\d+):M ", handle.read(), re.MULTILINE)
        return int(match.group(1)) if match else None
    return None


def _valkey_pid(base: Path) -> int | None:
    try:
        pid = int((base / "redis.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def _valkey_port(base: Path, password: str) -> int | None:
    """The TLS port of the running server, when ``password`` logs in; else None."""
    client = redis.Redis(
        unix_socket_path=str(base / "redis.sock"),
        username=VALKEY_USER,
        password=password,
        socket_timeout=2,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        with client:
            port = client.config_get("tls-port").get("tls-port")
    except redis.RedisError:
        return None
    return int(port) if port else None


def stop_valkey(root: Path) -> int | None:
    """SIGTERM (SIGKILL after a while); the pid it had, or None when it was not running."""
    pid = _valkey_pid(valkey_home(root))
    if pid is None:
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while pid_alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + STOP_TIMEOUT
        time.sleep(0.05)
    return pid


# Per engine: how to create, start or reuse its demo server, and where its data lives.
_ENSURE = {POSTGRESQL: ensure_postgres, VALKEY: ensure_valkey}
_HOME = {POSTGRESQL: postgres_home, VALKEY: valkey_home}


def ensure(root: Path, ca: trustme.CA, engine: str, password: str) -> DemoServer:
    return _ENSURE[engine](root, ca, password)


def data_home(root: Path, engine: str) -> Path:
    """Where the engine's demo server keeps its data (outside ``root`` when the PostgreSQL
    account cannot enter it)."""
    return _HOME[engine](root)


def stop_all(root: Path) -> dict[str, int | None]:
    """Stop both demo servers; engine -> pid stopped (None: was not running)."""
    return {POSTGRESQL: stop_postgres(root), VALKEY: stop_valkey(root)}


def remove_all(root: Path) -> dict[str, int | None]:
    """Stop both demo servers and delete their data, wherever it lives (``make clean``)."""
    stopped = stop_all(root)
    home = postgres_home(root)
    if home.parent != root and home.parent.name.startswith(SHARED_PREFIX):
        shutil.rmtree(home.parent, ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)
    return stopped
