"""An HTTP POST to a URL a team admin typed, on the road connection tests take
(instances/outbound.py): the host is looked up once, a refused address is never
contacted, the socket goes to the vetted address while TLS still checks the host name,
and a redirect is reported, never followed."""

from __future__ import annotations

import http.client
import socket
from urllib.parse import urlsplit

from alerts.channels import DeliveryError
from instances import outbound

TIMEOUT_SECONDS = 5
MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "Zektor-Portal-Alerts/1"
DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query); ValueError with a message for bad URLs."""
    if any(ord(char) < 33 or ord(char) == 127 for char in url):
        raise ValueError("The URL may not contain spaces or control characters.")
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError("Give a full http:// or https:// URL.")
    if parts.username is not None or parts.password is not None:
        raise ValueError("Put no user name or password in the URL.")
    try:
        port = DEFAULT_PORTS[parts.scheme] if parts.port is None else parts.port
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise ValueError("The port must be a number from 1 to 65535.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, path


def check_url(url: str) -> str:
    """A label for the URL that shows where it goes but not its path (which, for Slack,
    is the credential); ValueError when the portal would never send there."""
    scheme, host, port, _ = parse_url(url)
    literal = outbound.ip_literal(host)
    why = outbound.AddressPolicy.from_settings().refusal(str(literal)) if literal else None
    if why is not None:
        raise ValueError(f"{host} is {why}: the portal never sends there.")
    default = DEFAULT_PORTS[scheme] == port
    return f"{scheme}://{host}{'' if default else f':{port}'}/…"


class _VettedHTTPConnection(http.client.HTTPConnection):
    """http.client on a socket that is already connected (and TLS-wrapped) to the
    vetted address; the Host header still names the host."""

    def __init__(self, host: str, port: int, sock: socket.socket) -> None:
        super().__init__(host, port, timeout=TIMEOUT_SECONDS)
        self._vetted = sock

    def connect(self) -> None:
        self.sock = self._vetted


def _connect(host: str, port: int) -> socket.socket:
    """A socket to the first vetted address of ``host`` that answers."""
    try:
        addresses = outbound.vetted_addresses(host, port)
    except outbound.DeniedAddress as exc:
        raise DeliveryError(f"{exc}: the portal never contacts it, nothing was sent") from None
    except (OSError, UnicodeError):
        raise DeliveryError(f"{host} does not resolve") from None
    errors: list[OSError] = []
    for address in addresses:
        try:
            return outbound.connect_to(address, port, TIMEOUT_SECONDS)
        except OSError as exc:
            errors.append(exc)
    reason = errors[-1].strerror if errors and errors[-1].strerror else "unreachable"
    raise DeliveryError(f"{host} port {port}: {reason}")


def _open(scheme: str, host: str, port: int) -> socket.socket:
    sock = _connect(host, port)
    if scheme == "https":
        try:
            return outbound.tls_context("", verify=True).wrap_socket(sock, server_hostname=host)
        except OSError as exc:  # ssl.SSLError and certificate errors included
            sock.close()
            raise DeliveryError(f"{host}: TLS failed ({type(exc).__name__})") from None
    return sock


def post(url: str, body: bytes, headers: dict[str, str]) -> None:
    scheme, host, port, path = parse_url(url)
    sock = _open(scheme, host, port)
    connection = _VettedHTTPConnection(host, port, sock)
    try:
        connection.request("POST", path, body, {"User-Agent": USER_AGENT, **headers})
        response = connection.getresponse()
        response.read(MAX_RESPONSE_BYTES)
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryError(f"{host}: no answer ({type(exc).__name__})") from None
    finally:
        connection.close()
    if 300 <= response.status < 400:
        raise DeliveryError(f"{host} answered {response.status}: redirects are not followed")
    if not 200 <= response.status < 300:
        raise DeliveryError(f"{host} answered HTTP {response.status}")
