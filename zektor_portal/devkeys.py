"""Development-only encryption key, kept in the data directory so demo data stays readable."""

from __future__ import annotations

import base64
import os
from pathlib import Path

DEV_KEY_FILE = "dev-encryption-key"


def development_encryption_keys(data_dir: Path) -> dict[str, bytes]:
    path = data_dir / DEV_KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.b64encode(os.urandom(32)).decode())
    return {"dev": base64.b64decode(path.read_text().strip())}
