"""A user of a running portal over real HTTP (cookies, CSRF, sign-in form), for live-server
tests and the load benchmark. Standard library only; one kept-alive connection per user."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes = b""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class PortalUser:
    base_url: str
    timeout: float = 30.0
    cookies: dict[str, str] = field(default_factory=dict)
    _connection: http.client.HTTPConnection | None = None

    def login(self, username: str, password: str) -> None:
        self.get("/login/")  # sets the CSRF cookie
        answer = self.post("/login/", {"username": username, "password": password})
        if answer.status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"sign-in of {username} failed: HTTP {answer.status}")

    def get(self, path: str) -> Answer:
        return self._request("GET", path)

    def post(self, path: str, data: dict[str, str] | None = None) -> Answer:
        body = urlencode({"csrfmiddlewaretoken": self.cookies.get("csrftoken", ""), **(data or {})})
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return self._request("POST", path, body.encode(), headers)

    def stream(self, path: str) -> TestResponse:
        """POST like static/js/checks.js does; the answer's lines are read as they arrive."""
        headers = {"Accept": "application/x-ndjson", "Content-Length": "0"}
        headers["X-CSRFToken"] = self.cookies.get("csrftoken", "")
        return TestResponse(self, self._send("POST", path, None, headers))

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> Answer:
        response = self._send(method, path, body, headers or {})
        answer = Answer(response.status, dict(response.getheaders()), response.read())
        if response.will_close:
            self.close()
        return answer

    def _send(
        self, method: str, path: str, body: bytes | None, headers: dict
    ) -> http.client.HTTPResponse:
        for attempt in (1, 2):  # a kept-alive connection the server closed: reconnect once
            connection = self._connect()
            try:
                connection.request(method, path, body, {**self._headers(), **headers})
                response = connection.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt == 2:
                    raise
                continue
            self._remember(response)
            return response
        raise AssertionError("unreachable")

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            parts = urlsplit(self.base_url)
            self._connection = http.client.HTTPConnection(
                parts.hostname or "localhost", parts.port, timeout=self.timeout
            )
        return self._connection

    def _headers(self) -> dict[str, str]:
        cookie = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        return {"Cookie": cookie} if cookie else {}

    def _remember(self, response: http.client.HTTPResponse) -> None:
        for value in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(value).items():
                self.cookies[name] = morsel.value


class TestResponse:
    """A streamed connection test: ``status``, then ``events()`` as they arrive; ``hang_up()``
    closes the socket mid-stream, as a browser tab that is closed does."""

    __test__ = False  # not a pytest class

    def __init__(self, user: PortalUser, response: http.client.HTTPResponse) -> None:
        self._user, self._response = user, response
        self.status = response.status
        self.headers = dict(response.getheaders())
        self.body = b"" if self.status == 200 else response.read()

    def events(self) -> Iterator[dict]:
        for line in self._response:
            if line.strip():
                yield json.loads(line)
        self._response.read()  # the end: lets the connection carry the next request
        if self._response.will_close:
            self._user.close()

    def hang_up(self) -> None:
        self._response.close()
        self._user.close()
