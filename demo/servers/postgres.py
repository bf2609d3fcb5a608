"""PostgreSQL building blocks: initdb, config files, the OS account, passwords, readiness."""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from demo.servers.binaries import ServerUnavailable, pg_bindir, require
from demo.servers.files import write_file
from demo.servers.ports import LOOPBACK
from demo.servers.readiness import ServerStartError
from demo.servers.tls import TlsFiles

PG_SUPERUSER = "postgres"
PG_OS_USER = "postgres"


def set_pg_password(conn: psycopg.Connection[Any], role: str, password: str) -> None:
    """ALTER ROLE with a client-side SCRAM verifier: the plaintext never reaches the
    server (or its log) and no quoting of the hostile text is involved."""
    verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256")
    query = sql.SQL("ALTER ROLE {} PASSWORD {}").format(
        sql.Identifier(role), sql.Literal(verifier.decode("ascii"))
    )
    conn.execute(query)


def pg_account() -> pwd.struct_passwd | None:
    """Account to run PostgreSQL as: ``postgres`` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(PG_OS_USER)
    except KeyError:
        raise ServerUnavailable(
            f"running as root but there is no {PG_OS_USER!r} OS account for PostgreSQL"
        ) from None


def as_pg_account(cwd: Path) -> dict[str, Any]:
    """subprocess kwargs running a PostgreSQL program as ``pg_account()`` in ``cwd``."""
    account = pg_account()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "HOME": str(cwd)}
    kwargs: dict[str, Any] = {"cwd": str(cwd), "env": env}
    if account is not None:
        kwargs.update(user=account.pw_uid, group=account.pw_gid, extra_groups=[])
    return kwargs


def pg_can_enter(path: Path) -> bool:
    """True when ``pg_account()`` may enter ``path``: search permission on it and on every
    directory above it (root's home and ``mktemp -d`` folders are closed to others)."""
    if pg_account() is None:
        return True  # PostgreSQL runs as ourselves
    result = subprocess.run(  # noqa: S603 - fixed argv, the path is one argument
        [require("test"), "-x", str(path)],
        capture_output=True,
        check=False,
        **as_pg_account(Path("/")),
    )
    return result.returncode == 0


def chown_tree(path: Path) -> None:
    """Hand ``path`` (and everything below it) to the PostgreSQL account when root."""
    account = pg_account()
    if account is None:
        return
    os.lchown(path, account.pw_uid, account.pw_gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), account.pw_uid, account.pw_gid)


def run_as_pg(argv: list[str], cwd: Path, what: str, stdin: str = "") -> str:
    """Run a PostgreSQL program as its account; ``ServerStartError`` with its stderr on failure."""
    result = subprocess.run(  # noqa: S603 - argv names a PostgreSQL binary we found
        argv, input=stdin, capture_output=True, text=True, check=False, **as_pg_account(cwd)
    )
    if result.returncode != 0 or "ERROR:" in result.stderr:
        raise ServerStartError(f"{what} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout


def init_cluster(data: Path, bootstrap_sql: str) -> None:
    """initdb (superuser ``postgres``, trust) into ``data``, whose parent the PostgreSQL
    account owns, then run ``bootstrap_sql`` (one statement per line) in single-user mode."""
    bindir, base = pg_bindir(), data.parent
    initdb = [str(bindir / "initdb"), "-D", str(data), "-U", PG_SUPERUSER, "-A", "trust"]
    initdb += ["-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions", "--wal-segsize=1"]
    run_as_pg(initdb, base, "initdb")
    single = [str(bindir / "postgres"), "--single", "-F", "-D", str(data), "postgres"]
    run_as_pg(single, base, "postgres --single", stdin=bootstrap_sql)


def conf_value(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def pg_settings(port: int, sock: Path, tls: TlsFiles | None, **extra: object) -> dict[str, object]:
    """postgresql.conf for a loopback-only server tuned for speed over durability."""
    settings: dict[str, object] = {
        "listen_addresses": LOOPBACK,
        "port": port,
        "unix_socket_directories": str(sock),
        "unix_socket_permissions": "0700",
        "max_connections": 50,
        "shared_buffers": "16MB",
        "fsync": False,
        "synchronous_commit": False,
        "full_page_writes": False,
        "autovacuum": False,
        "jit": False,
        "password_encryption": "scram-sha-256",
        "log_line_prefix": "%m [%p] %q%u@%d ",
        "lc_messages": "C",
        "timezone": "UTC",
        "ssl": tls is not None,
    }
    if tls is not None:
        settings.update(ssl_cert_file=str(tls.cert), ssl_key_file=str(tls.key))
        settings["ssl_min_protocol_version"] = "TLSv1.2"
    settings.update(extra)
    return settings


def write_pg_conf(data: Path, settings: dict[str, object]) -> None:
    conf = "".join(f"{key} = {conf_value(value)}\n" for key, value in settings.items())
    write_file(data / "postgresql.conf", conf, 0o600)
    chown_tree(data / "postgresql.conf")


def pg_hba(tls: bool) -> str:
    """Superuser over the unix socket without password; everyone else with SCRAM."""
    lines = [
        f"local   all  {PG_SUPERUSER}  trust",
        "local   all  all  scram-sha-256",
        "hostssl all  all  127.0.0.1/32  scram-sha-256" if tls else "",
        "host    all  all  127.0.0.1/32  scram-sha-256",
        "host    all  all  ::1/128       scram-sha-256",
    ]
    return "\n".join(line for line in lines if line) + "\n"


def pg_superuser_dsn(sock: Path, port: int) -> str:
    return psycopg.conninfo.make_conninfo(
        host=str(sock), port=port, user=PG_SUPERUSER, dbname="postgres"
    )


def probe_pg(dsn: str) -> None:
    with psycopg.connect(dsn, connect_timeout=2) as conn:
        conn.execute("SELECT 1")
