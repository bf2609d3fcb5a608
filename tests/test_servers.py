"""Proof that the real-server fixtures in tests/servers.py do what they promise."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from psycopg.conninfo import make_conninfo
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.servers import (
    HOSTILE_PASSWORD,
    PG_APP_DB,
    PG_APP_USER,
    REDIS_APP_USER,
    ServerInfo,
    Tarpit,
    require_binary,
)

pytestmark = pytest.mark.servers

NO_RETRY = Retry(NoBackoff(), 0)


def pg_connect(server: ServerInfo, **overrides: Any) -> psycopg.Connection[Any]:
    """Spelled out on purpose (not server.pg_kwargs) so the test shows the real parameters."""
    params: dict[str, Any] = {
        "host": "localhost",
        "hostaddr": server.address,
        "port": server.port,
        "user": server.username,
        "password": server.password,
        "dbname": server.database,
        "sslmode": "verify-full",
        "sslrootcert": server.ca_file,
        "connect_timeout": 5,
    }
    params.update(overrides)
    return psycopg.connect(**params)


def ssl_in_use(conn: psycopg.Connection[Any]) -> tuple[bool, str | None]:
    row = conn.execute(
        "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def redis_client(server: ServerInfo, **overrides: Any) -> redis.Redis:
    params: dict[str, Any] = {
        "host": "localhost",
        "port": server.port,
        "username": server.username,
        "password": server.password,
        "ssl": True,
        "ssl_ca_certs": server.ca_file,
        "ssl_cert_reqs": "required",
        "ssl_check_hostname": True,
        "socket_timeout": 5,
        "retry": NO_RETRY,
    }
    params.update(overrides)
    return redis.Redis(**params)


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "REDISCLI"))}
    env.update(HOME=str(tmp_path), **extra)
    return env


def test_hostile_password_is_hostile() -> None:
    for needle in ["'", '"', "\\", "$", "`", "<%", "${X}", "%20", " ", "\u00fc", "\u65e5"]:
        assert needle in HOSTILE_PASSWORD
    assert set("@:/?#%&=+;|<>{}[]~!*") <= set(HOSTILE_PASSWORD)
    assert "\n" not in HOSTILE_PASSWORD and HOSTILE_PASSWORD.strip() == HOSTILE_PASSWORD


# ------------------------------------------------------------------------ PostgreSQL


def test_pg_tls_verify_full_with_hostile_password(pg_tls: ServerInfo) -> None:
    assert pg_tls.password == HOSTILE_PASSWORD
    with pg_connect(pg_tls) as conn:
        assert ssl_in_use(conn)[0] is True
        assert ssl_in_use(conn)[1] in {"TLSv1.2", "TLSv1.3"}
        row = conn.execute(
            "SELECT current_user, current_database(), r.rolsuper, pg_get_userbyid(d.datdba)"
            " FROM pg_roles r, pg_database d"
            " WHERE r.rolname = current_user AND d.datname = current_database()"
        ).fetchone()
    assert row == (PG_APP_USER, PG_APP_DB, False, PG_APP_USER)


def test_pg_tls_also_allows_non_ssl_and_checks_password(pg_tls: ServerInfo) -> None:
    with pg_connect(pg_tls, sslmode="disable") as conn:
        assert ssl_in_use(conn)[0] is False
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        pg_connect(pg_tls, password=HOSTILE_PASSWORD + "x")


def test_pg_url_and_helpers(pg_tls: ServerInfo) -> None:
    with psycopg.connect(pg_tls.url(connect_timeout="5")) as conn:
        assert ssl_in_use(conn)[0] is True
    with pg_tls.connect() as conn:
        assert conn.info.user == PG_APP_USER
    with pg_tls.admin() as admin:
        assert admin.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        assert admin.execute("SHOW password_encryption").fetchone() == ("scram-sha-256",)
        assert admin.execute("SHOW ssl_min_protocol_version").fetchone() == ("TLSv1.2",)


def test_pg_plain_offers_no_tls(pg_plain: ServerInfo) -> None:
    assert pg_plain.ca_file is None and pg_plain.ca_pem is None
    with pytest.raises(psycopg.OperationalError, match="does not support SSL"):
        pg_connect(pg_plain, sslmode="require")
    with pg_connect(pg_plain, sslmode="prefer") as conn:
        assert ssl_in_use(conn)[0] is False


def test_pg_wrong_host_fails_verify_full(pg_wrong_host: ServerInfo) -> None:
    with pytest.raises(psycopg.OperationalError, match="does not match host name"):
        pg_connect(pg_wrong_host)
    with pg_connect(pg_wrong_host, sslmode="verify-ca") as conn:  # the chain itself is fine
        assert ssl_in_use(conn)[0] is True


def test_pg_expired_fails_verification(pg_expired: ServerInfo) -> None:
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        pg_connect(pg_expired, sslmode="verify-ca")
    # Gotcha: libpq's sslmode=require VERIFIES (like verify-ca) whenever an sslrootcert
    # file is given/exists, so drop it to see an unverified connection succeed.
    with pg_connect(pg_expired, sslmode="require", sslrootcert=None) as conn:
        assert ssl_in_use(conn)[0] is True


def test_pg_unknown_ca_fails_against_test_ca(pg_unknown_ca: ServerInfo, pg_tls: ServerInfo) -> None:
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        pg_connect(pg_unknown_ca, sslrootcert=pg_tls.ca_file)
    with pg_connect(pg_unknown_ca) as conn:  # its own (other) CA does verify
        assert ssl_in_use(conn)[0] is True


def test_psql_cli_connects(pg_tls: ServerInfo, tmp_path: Path) -> None:
    psql = require_binary("psql")
    conninfo = make_conninfo(
        host="localhost",
        hostaddr=pg_tls.address,
        port=pg_tls.port,
        user=pg_tls.username,
        dbname=pg_tls.database,
        sslmode="verify-full",
        sslrootcert=pg_tls.ca_file,
    )
    query = "SELECT current_user || ' ' || ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
    env = cli_env(tmp_path, PGPASSWORD=pg_tls.password)
    result = subprocess.run(
        [psql, "-X", "-A", "-t", "-c", query, conninfo],
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{PG_APP_USER} true"


def test_fresh_pg_password_rotation_and_restart(fresh_pg: ServerInfo) -> None:
    new_password = HOSTILE_PASSWORD[::-1] + " rotated"
    rotated = fresh_pg.rotate_password(new_password)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        pg_connect(fresh_pg)
    rotated.restart()
    with pg_connect(rotated) as conn:
        assert conn.info.user == PG_APP_USER


def test_make_pg_factory_and_stop(make_pg: Any) -> None:
    server: ServerInfo = make_pg(tls=False, password="plain-pass")
    with pg_connect(server, sslmode="disable") as conn:
        assert ssl_in_use(conn)[0] is False
    pid = server._handle.proc.pid  # type: ignore[union-attr]
    server.stop()
    server.stop()  # idempotent
    assert not Path(server.data_dir).exists()
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


# ----------------------------------------------------------------------------- Redis


def test_redis_tls_ping_as_default_and_app(redis_tls: ServerInfo) -> None:
    assert redis_tls.username == "default" and redis_tls.password == HOSTILE_PASSWORD
    with redis_client(redis_tls) as client:
        assert client.ping() is True
        assert client.acl_whoami() == "default"
    with redis_client(redis_tls, username=REDIS_APP_USER) as client:
        assert client.acl_whoami() == REDIS_APP_USER
    with pytest.raises(redis.AuthenticationError), redis_client(redis_tls, password="nope") as c:
        c.ping()


def test_redis_tls_url_and_config(redis_tls: ServerInfo) -> None:
    url_client = redis.Redis.from_url(redis_tls.url(), ssl_ca_certs=redis_tls.ca_file)
    with url_client as client:
        assert client.acl_whoami() == "default"
    with redis_tls.admin() as admin:
        assert admin.config_get("port") == {"port": "0"}
        assert admin.config_get("tls-port") == {"tls-port": str(redis_tls.port)}
        assert admin.config_get("maxclients") == {"maxclients": "256"}


def test_redis_plain(redis_plain: ServerInfo) -> None:
    with redis_client(redis_plain, ssl=False, ssl_ca_certs=None) as client:
        assert client.acl_whoami() == "default"
    with redis_plain.connect(username=REDIS_APP_USER) as client:
        assert client.ping() is True


def test_redis_wrong_host_and_expired_fail(
    redis_wrong_host: ServerInfo, redis_expired: ServerInfo
) -> None:
    for server, reason in [(redis_wrong_host, "match"), (redis_expired, "expired")]:
        with pytest.raises(redis.ConnectionError, match=reason), redis_client(server) as client:
            client.ping()


def test_redis_unknown_ca_fails_against_test_ca(
    redis_unknown_ca: ServerInfo, redis_tls: ServerInfo
) -> None:
    client = redis_client(redis_unknown_ca, ssl_ca_certs=redis_tls.ca_file)
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"), client:
        client.ping()


@pytest.mark.parametrize("user", ["default", REDIS_APP_USER])
def test_redis_cli_connects(redis_tls: ServerInfo, tmp_path: Path, user: str) -> None:
    cli = require_binary("valkey-cli", "redis-cli")
    argv = [cli, "--tls", "--cacert", str(redis_tls.ca_file), "-h", "localhost"]
    argv += ["-p", str(redis_tls.port), "--user", user, "--no-auth-warning", "ACL", "WHOAMI"]
    env = cli_env(tmp_path, REDISCLI_AUTH=redis_tls.password)
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=20, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == user


def test_fresh_redis_acl_setuser_save_rewrite_restart(fresh_redis: ServerInfo) -> None:
    new_password = " spaced " + HOSTILE_PASSWORD[::-1] + " "
    rotated = fresh_redis.rotate_password(new_password)  # ACL SETUSER + ACL SAVE
    with pytest.raises(redis.AuthenticationError), redis_client(fresh_redis) as client:
        client.ping()
    with rotated.admin() as admin:
        assert admin.execute_command("ACL", "LOAD") in (b"OK", True)  # saved file reloads
        assert admin.config_rewrite() in (b"OK", True)
    rotated.restart()
    with redis_client(rotated) as client:
        assert client.acl_whoami() == "default"
    with redis_client(fresh_redis, username=REDIS_APP_USER) as client:  # app: old password
        assert client.acl_whoami() == REDIS_APP_USER


# ------------------------------------------------------------------ tarpit & friends


def test_tarpit_accepts_and_never_answers(tarpit: Tarpit) -> None:
    with socket.create_connection((tarpit.address, tarpit.port), timeout=2) as sock:
        sock.sendall(b"PING\r\n")
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(1)


def test_tarpit_times_out_a_real_client(tarpit: Tarpit) -> None:
    before = tarpit.accepted
    client = redis.Redis(host=tarpit.address, port=tarpit.port, socket_timeout=0.5, retry=NO_RETRY)
    with pytest.raises(redis.TimeoutError), client:
        client.ping()
    assert tarpit.accepted > before


def test_closed_port_refuses(closed_port: int) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", closed_port), timeout=2)


def test_require_binary_skips_or_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = "zektor-no-such-binary"
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):  # without CI it skips; with CI=true it fails
        require_binary(missing)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=missing):
        require_binary(missing)
    assert require_binary("redis-server", missing)
