"""A fake PostgreSQL server on 127.0.0.1 that accepts TLS, then asks for a password in a weak
way (cleartext or MD5) and records every byte a client sends after that request."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import ssl
import struct
import threading

import trustme

from tests.servers import LOCALHOST, LOOPBACK

SSL_REQUEST = struct.pack("!II", 8, 80877103)
CLEARTEXT, MD5 = 3, 5


class FakePostgres(socketserver.ThreadingTCPServer):
    """Listens until ``stop()``. ``after_auth_request`` holds, per login that reached the
    password request, what the client sent next (b"" when it hung up at once)."""

    host = LOCALHOST
    block_on_close = True  # stop() waits for every conversation, so the record is complete

    def __init__(self, ca: trustme.CA, method: int = CLEARTEXT) -> None:
        super().__init__((LOOPBACK, 0), _Conversation)
        self.method = method
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(LOCALHOST, LOOPBACK).configure_cert(self.context)
        self.port = int(self.server_address[1])
        self.after_auth_request: list[bytes] = []
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Conversation(socketserver.BaseRequestHandler):
    server: FakePostgres

    def handle(self) -> None:
        conn, fake = self.request, self.server
        with contextlib.suppress(OSError, ValueError):
            conn.settimeout(5)
            if _read_exactly(conn, 8) != SSL_REQUEST:
                return
            conn.sendall(b"S")
            with fake.context.wrap_socket(conn, server_side=True) as tls:
                length = struct.unpack("!I", _read_exactly(tls, 4))[0]
                _read_exactly(tls, length - 4)  # the startup message: user, database
                if fake.method == MD5:
                    tls.sendall(b"R" + struct.pack("!II", 12, MD5) + b"salt")
                else:
                    tls.sendall(b"R" + struct.pack("!II", 8, CLEARTEXT))
                fake.after_auth_request.append(_read_until_eof(tls))


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
