"""Finding server binaries: PATH first, then PostgreSQL's versioned bin directories."""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

PG_BIN_GLOBS = ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin")


class ServerUnavailable(RuntimeError):
    """A binary or OS account a server needs is missing on this machine."""


def _pg_bin_dirs() -> list[str]:
    dirs = [os.environ["ZEKTOR_PG_BINDIR"]] if os.environ.get("ZEKTOR_PG_BINDIR") else []
    found = [d for pattern in PG_BIN_GLOBS for d in glob.glob(pattern)]
    return dirs + sorted(found, key=_version_key, reverse=True)


def _version_key(path: str) -> tuple[int, ...]:
    digits = "".join(c if c.isdigit() else " " for c in path).split()
    return tuple(int(d) for d in digits)


def find_binary(name: str) -> str | None:
    """PATH first, then PostgreSQL's versioned bin dirs (Debian keeps initdb out of PATH)."""
    for directory in _pg_bin_dirs():
        candidate = os.path.join(directory, name)
        if name in {"postgres", "initdb"} and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found:
        return found
    for directory in _pg_bin_dirs():
        candidate = os.path.join(directory, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def require(name: str, *alternatives: str) -> str:
    """Path of the first binary found, else ``ServerUnavailable``."""
    for candidate in (name, *alternatives):
        path = find_binary(candidate)
        if path:
            return path
    wanted = " / ".join((name, *alternatives))
    raise ServerUnavailable(f"required binary {wanted!r} not found on PATH or in {PG_BIN_GLOBS}")


def pg_bindir() -> Path:
    """The directory holding ``postgres``, ``initdb`` and ``pg_ctl``."""
    postgres = Path(require("postgres"))
    if not (postgres.parent / "initdb").exists():
        raise ServerUnavailable(f"no initdb next to {postgres}")
    return postgres.parent
