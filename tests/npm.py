"""Installing a test directory's npm packages from its package-lock.json, once."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.servers import unavailable


def npm_ci(directory: Path, needed: str, *, scripts: bool = False) -> Path:
    """`npm ci` in `directory` unless node_modules/`needed` is there already; its
    node_modules. Install scripts run only with `scripts` (the snippet clients need theirs:
    Prisma's and esbuild's); the browser and OpenID provider packages install without."""
    modules = directory / "node_modules"
    if (modules / needed).exists():
        return modules
    npm = shutil.which("npm")
    if npm is None:
        unavailable(f"npm is missing: cannot install {needed}")
    argv = [npm, "ci", "--prefix", str(directory), "--no-audit", "--no-fund"]
    done = subprocess.run(
        argv if scripts else [*argv, "--ignore-scripts"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"npm ci in {directory} failed: {done.stderr[-4000:]}"
    return modules
