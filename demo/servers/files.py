"""Writing config and key files with exact permissions; reading the end of a log."""

from __future__ import annotations

import os
from pathlib import Path


def write_file(path: Path, data: bytes | str, mode: int = 0o644) -> Path:
    raw = data.encode() if isinstance(data, str) else data
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(raw)
    os.chmod(path, mode)
    return path


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "<no log>"
    return "\n".join(text.splitlines()[-lines:])
