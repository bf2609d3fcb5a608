"""A fake PostgreSQL server on 127.0.0.1 that accepts TLS, then asks for a password in a weak
way (cleartext or MD5) and records every byte a client sends after that request."""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading

import trustme

from tests.servers import LOCALHOST, LOOPBACK

SSL_REQUEST = struct.pack("!II", 8, 80877103)
CLEARTEXT, MD5 = 3, 5


class FakePostgres:
    """Listens until ``stop()``. ``after_auth_request`` holds, per login that reached the
    password request, what the client sent next (b"" when it hung up at once)."""

    host = LOCALHOST

    def __init__(self, ca: trustme.CA, method: int = CLEARTEXT) -> None:
        self.method = method
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(LOCALHOST, LOOPBACK).configure_cert(self._context)
        self._listener = socket.create_server((LOOPBACK, 0))
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self.after_auth_request: list[bytes] = []
        self._talkers: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="fake-pg", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            talker = threading.Thread(target=self._talk, args=(conn,), daemon=True)
            self._talkers.append(talker)
            talker.start()

    def _talk(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError, ValueError), conn:
            conn.settimeout(5)
            if _read_exactly(conn, 8) != SSL_REQUEST:
                return
            conn.sendall(b"S")
            with self._context.wrap_socket(conn, server_side=True) as tls:
                length = struct.unpack("!I", _read_exactly(tls, 4))[0]
                _read_exactly(tls, length - 4)  # the startup message: user, database
                if self.method == MD5:
                    tls.sendall(b"R" + struct.pack("!II", 12, MD5) + b"salt")
                else:
                    tls.sendall(b"R" + struct.pack("!II", 8, CLEARTEXT))
                self.after_auth_request.append(_read_until_eof(tls))

    def stop(self) -> None:
        """Stop listening, once every connection so far has finished (or timed out)."""
        self._stopping.set()
        self._thread.join(timeout=2)
        self._listener.close()
        for talker in self._talkers:
            talker.join(timeout=6)


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ValueError("the client hung up")
        data += chunk
    return data


def _read_until_eof(sock: socket.socket) -> bytes:
    data = b""
    with contextlib.suppress(OSError):
        while chunk := sock.recv(4096):
            data += chunk
    return data
