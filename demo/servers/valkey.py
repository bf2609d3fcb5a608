"""Valkey/Redis building blocks: config file, ACL file, passwords, readiness."""

from __future__ import annotations

import hashlib
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from demo.servers.ports import LOOPBACK
from demo.servers.tls import TlsFiles


def acl_line(user: str, password: str) -> str:
    """aclfile entry with the password as SHA-256 ('#<hex>'): no quoting problems at all."""
    digest = hashlib.sha256(password.encode("utf-8")).hexdigest()
    return f"user {user} on #{digest} ~* &* +@all\n"


def set_redis_password(client: redis.Redis, user: str, password: str) -> None:
    """ACL SETUSER with the password as its own argument (spaces are fine), then ACL SAVE."""
    client.execute_command("ACL", "SETUSER", user, "on", "resetpass", f">{password}")
    client.execute_command("ACL", "SAVE")


def redis_conf(
    base: Path, port: int, tls: TlsFiles | None, ca_file: Path | None, *, daemonize: bool = False
) -> str:
    """redis.conf for a loopback-only server living in ``base`` (socket, ACL file, data/).
    With TLS, ``port`` is the TLS port and the plain port is off. ``daemonize`` forks into
    the background with a pidfile and a log file in ``base``."""
    lines = [
        f"bind {LOOPBACK}",
        f"port {0 if tls else port}",
        f"unixsocket {base / 'redis.sock'}",
        "unixsocketperm 700",
        f"dir {base / 'data'}",
        f"aclfile {base / 'users.acl'}",
        "maxclients 256",
        'save ""',
        "appendonly no",
        "protected-mode yes",
    ]
    if daemonize:
        lines += ["daemonize yes", f"pidfile {base / 'redis.pid'}", f"logfile {base / 'redis.log'}"]
    else:
        lines += ["daemonize no", 'logfile ""']
    if tls is not None and ca_file is not None:
        lines += [
            f"tls-port {port}",
            f"tls-cert-file {tls.cert}",
            f"tls-key-file {tls.key}",
            f"tls-ca-cert-file {ca_file}",
            "tls-auth-clients no",
            'tls-protocols "TLSv1.2 TLSv1.3"',
        ]
    return "\n".join(lines) + "\n"


def probe_redis(sock: Path, username: str, password: str) -> None:
    """PING over the unix socket as ``username``; raises until the server answers."""
    client = redis.Redis(
        unix_socket_path=str(sock),
        username=username,
        password=password,
        socket_timeout=2,
        retry=Retry(NoBackoff(), 0),
    )
    with client:
        client.ping()
