"""Installing a test directory's npm packages from its package-lock.json, once."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.servers import unavailable


def npm_ci(directory: Path, needed: str) -> None:
    """`npm ci` in `directory` unless node_modules/`needed` is there already."""
    if (directory / "node_modules" / needed).exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        unavailable(f"npm is missing: cannot install {needed}")
    subprocess.run(
        [npm, "ci", "--prefix", str(directory), "--ignore-scripts", "--no-audit", "--no-fund"],
        check=True,
        capture_output=True,
        timeout=300,
    )
