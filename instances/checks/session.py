"""What one check run knows: the target, its deadlines and the connections it opened."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from instances.checks.report import ServerFacts, TlsInfo
from instances.outbound import AddressPolicy

if TYPE_CHECKING:
    from instances.engines.base import Engine, Target


class Aborted(Exception):
    """The check ran out of time and its connections were shut down under it."""


class Session:
    """Mutable state shared by the steps of one run. ``abort`` may be called from another
    thread: it shuts every open socket so that blocked reads return at once."""

    def __init__(
        self, target: Target, engine: Engine, policy: AddressPolicy, timeout: float
    ) -> None:
        self.target = target
        self.engine = engine
        self.policy = policy
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
        self.pending: Background | None = None
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
        self._abandon_pending()
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
        self._abandon_pending()
        with self._lock:
            self._close_client()
        self.close_socket()

    def _abandon_pending(self) -> None:
        if self.pending is not None:
            self.pending.abandon()

    def _close_client(self) -> None:
        client, self.client, self.client_fd = self.client, None, None
        _close_quietly(client)


class Background:
    """Work started ahead of the step that needs it (a driver login during the tls step).
    Whatever it opens is closed if the run ends first, however late the work finishes."""

    def __init__(self, work: Callable[[], Any], name: str) -> None:
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._value: Any = None
        self._error: BaseException | None = None
        self._abandoned = False
        threading.Thread(target=self._run, args=(work,), name=name, daemon=True).start()

    def _run(self, work: Callable[[], Any]) -> None:
        try:
            value = work()
        except BaseException as exc:  # handed to whoever waits in result()
            self._error = exc
        else:
            with self._lock:
                if self._abandoned:
                    _close_quietly(value)
                else:
                    self._value = value
        self._done.set()

    def result(self, timeout: float) -> Any:
        """The work's value (the caller owns it now), or its exception; TimeoutError if late."""
        if not self._done.wait(timeout):
            raise TimeoutError
        if self._error is not None:
            raise self._error
        with self._lock:
            value, self._value = self._value, None
        return value

    def abandon(self) -> None:
        with self._lock:
            self._abandoned = True
            value, self._value = self._value, None
        _close_quietly(value)


def _close_quietly(value: object) -> None:
    if value is not None:
        with contextlib.suppress(Exception):
            value.close()  # type: ignore[attr-defined]


def _shutdown_fd(fd: int | None) -> None:
    if fd is None or fd < 0:
        return
    with contextlib.suppress(OSError):
        duplicate = socket.socket(fileno=os.dup(fd))
        with duplicate:
            duplicate.shutdown(socket.SHUT_RDWR)
