"""Waiting until a freshly started server answers."""

from __future__ import annotations

import os
import time
from collections.abc import Callable


class ServerStartError(RuntimeError):
    """A server process did not come up; the message carries the tail of its log."""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_ready(
    probe: Callable[[], object],
    deadline: float,
    *,
    exited: Callable[[], str | None],
    failure: Callable[[str], str],
) -> None:
    """Call ``probe`` until it stops raising. ``exited`` says why the server is gone (or
    None while it runs); ``failure`` turns a reason into the ``ServerStartError`` message."""
    while True:
        reason = exited()
        if reason is not None:
            raise ServerStartError(failure(reason))
        try:
            probe()
            return
        except Exception as exc:
            if time.monotonic() > deadline:
                raise ServerStartError(failure(f"not ready in time: {exc!r}")) from exc
        time.sleep(0.02)
