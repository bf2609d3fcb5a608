"""Helpers for rotation tests: instances pointing at real test servers, login probes."""

from __future__ import annotations

import psycopg
import redis

from tests.servers import ServerInfo


class Crash(Exception):
    """Raised from a checkpoint to stop a rotation like a killed process would."""


def crash_at(name: str):
    def checkpoint(reached: str) -> None:
        if reached == name:
            raise Crash(name)

    return checkpoint


def logs_in(server: ServerInfo, password: str, username: str | None = None) -> bool:
    """A fresh login through the test server's own client settings (not the code under test)."""
    user = (
        ({"user": username} if server.is_postgres else {"username": username}) if username else {}
    )
    try:
        client = server.connect(password=password, **user)
        if server.is_postgres:
            client.close()
        else:
            with client:
                client.ping()
    except (psycopg.OperationalError, redis.AuthenticationError):
        return False
    return True
