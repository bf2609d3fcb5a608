"""libpq reads a CA only from a file: write a stored CA PEM to a temporary one."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def temporary_ca_file(pem: str) -> Iterator[str | None]:
    """The path of a file holding `pem` for the duration of the block; None when no CA."""
    if not pem:
        yield None
        return
    with tempfile.NamedTemporaryFile("w", suffix=".pem", prefix="zektor-ca-") as handle:
        handle.write(pem)
        handle.flush()
        yield handle.name
