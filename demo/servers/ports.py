"""Free TCP ports on the loopback interface."""

from __future__ import annotations

import errno
import socket

LOOPBACK = "127.0.0.1"

_HANDED_OUT: set[int] = set()


def _ipv6_port_free(port: int) -> bool:
    """True unless something already uses ::1:port (clients resolving localhost try ::1)."""
    if not socket.has_ipv6:
        return True
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("::1", port))
        except OSError as exc:
            return exc.errno != errno.EADDRINUSE  # EADDRNOTAVAIL: no ::1 at all
    return True


def port_free(port: int) -> bool:
    """True when nothing uses port on 127.0.0.1 nor ::1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return _ipv6_port_free(port)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 (and ::1) right now; tiny race until someone binds it."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((LOOPBACK, 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT and _ipv6_port_free(port):
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError("could not find a free TCP port on 127.0.0.1")
