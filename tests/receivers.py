"""Real receivers for alerts, on free loopback ports: an SMTP server (aiosmtpd) and a
threaded HTTP server that records every request and answers with scripted statuses."""

from __future__ import annotations

import logging
import ssl
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from demo.servers.ports import LOOPBACK, free_port

__all__ = ["HttpReceiver", "Received", "SmtpReceiver", "http_receiver", "smtp_receiver"]


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class HttpReceiver:
    """Answers each POST with the next scripted status (then 200); a 3xx carries
    ``Location: redirect_to``."""

    def __init__(self, tls: trustme.LeafCert | None = None) -> None:
        self.requests: list[Received] = []
        self.statuses: deque[int] = deque()
        self.redirect_to = ""
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer((LOOPBACK, 0), self._handler())
        self.server.daemon_threads = True
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.configure_cert(context)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str = "/hook") -> str:
        return f"http://{LOOPBACK}:{self.port}{path}"

    def respond(self, *statuses: int) -> None:
        self.statuses.extend(statuses)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.requests.append(Received(self.path, dict(self.headers), body))
                    status = receiver.statuses.popleft() if receiver.statuses else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", receiver.redirect_to)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpReceiver:
    """aiosmtpd on loopback; every message it accepted, parsed. With ``tls`` it offers
    STARTTLS (or, ``implicit_tls``, speaks TLS from the start); with ``login`` it requires
    AUTH with that (user, password) and records the logins it saw."""

    def __init__(
        self,
        tls: trustme.LeafCert | None = None,
        *,
        implicit_tls: bool = False,
        login: tuple[str, str] | None = None,
    ) -> None:
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs each line
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.logins: list[str] = []
        self.login = login
        self.port = free_port()
        options: dict[str, Any] = {}
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.configure_cert(context)
            options["ssl_context" if implicit_tls else "tls_context"] = context
            options["require_starttls"] = not implicit_tls
        if login is not None:
            options.update(authenticator=self._authenticate, auth_required=True)
            # Under implicit TLS the whole session is encrypted; aiosmtpd only counts STARTTLS.
            options["auth_require_tls"] = tls is not None and not implicit_tls
        self.controller = Controller(self, hostname=LOOPBACK, port=self.port, **options)
        self.controller.start()

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        user, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append(user)
        return AuthResult(success=(user, password) == self.login)

    async def handle_DATA(self, server, session, envelope) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted"

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver()
    yield receiver
    receiver.stop()
