"""What one check run knows: the target, its deadlines and the connections it opened."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network

from instances.checks.report import ServerFacts, TlsInfo

IPNetwork = IPv4Network | IPv6Network


@dataclass(frozen=True)
class Target:
    """The instance as the engine sees it; built from the model by ``service.target_for``."""

    name: str
    engine: str
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    database: str = ""
    sslmode: str = "require"
    tls: bool = True
    ca_cert: str = ""
    status: str = "active"
    tier: str = "standard"
    tier_max_connections: int | None = None

    @property
    def is_postgresql(self) -> bool:
        return self.engine == "postgresql"

    @property
    def uses_tls(self) -> bool:
        return self.is_postgresql or self.tls

    @property
    def verifies_chain(self) -> bool:
        """Whether a client configured like this instance rejects an untrusted chain."""
        return not self.is_postgresql or self.sslmode in ("verify-ca", "verify-full")

    @property
    def verifies_host(self) -> bool:
        return not self.is_postgresql or self.sslmode == "verify-full"


class Aborted(Exception):
    """The check ran out of time and its connections were shut down under it."""


class Session:
    """Mutable state shared by the steps of one run. ``abort`` may be called from another
    thread: it shuts every open socket so that blocked reads return at once."""

    def __init__(self, target: Target, deny_networks: list[IPNetwork], timeout: float) -> None:
        self.target = target
        self.deny_networks = deny_networks
        self.timeout = timeout
        self.ends_at = time.monotonic() + timeout
        self.step_ends_at = self.ends_at
        self.addresses: list[str] = []
        self.address: str | None = None
        self.sock: socket.socket | None = None
        self.client: object | None = None
        self.client_fd: int | None = None
        self.tls: TlsInfo | None = None
        self.server: ServerFacts | None = None
        self._lock = threading.Lock()
        self._aborted = False

    def start_step(self, step_timeout: float) -> None:
        self.step_ends_at = min(self.ends_at, time.monotonic() + step_timeout)

    def remaining(self) -> float:
        """Seconds left for the current step (never zero, so socket timeouts stay finite)."""
        return max(0.001, self.step_ends_at - time.monotonic())

    def overall_remaining(self) -> float:
        return max(0.0, self.ends_at - time.monotonic())

    def adopt(self, sock: socket.socket) -> None:
        with self._lock:
            self.sock = sock
            if self._aborted:
                sock.close()
                raise Aborted

    def adopt_client(self, client: object, fd: int | None) -> None:
        with self._lock:
            self.client, self.client_fd = client, fd
            if self._aborted:
                self._close_client()
                raise Aborted

    def abort(self) -> None:
        with self._lock:
            self._aborted = True
            for fd in (self.sock.fileno() if self.sock else -1, self.client_fd):
                _shutdown_fd(fd)

    def close_socket(self) -> None:
        with self._lock:
            if self.sock is not None:
                self.sock.close()
            self.sock = None

    def close(self) -> None:
        with self._lock:
            self._close_client()
        self.close_socket()

    def _close_client(self) -> None:
        client, self.client, self.client_fd = self.client, None, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()  # type: ignore[attr-defined]


def _shutdown_fd(fd: int | None) -> None:
    if fd is None or fd < 0:
        return
    with contextlib.suppress(OSError):
        duplicate = socket.socket(fileno=os.dup(fd))
        with duplicate:
            duplicate.shutdown(socket.SHUT_RDWR)
