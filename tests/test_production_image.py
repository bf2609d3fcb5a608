"""The production image holds what the Dockerfile copies and requirements.lock installs,
and works with only that: no demo app, no development or test dependency (trustme ...)."""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "ZEKTOR_SECRET_KEY": "x" * 40,
    "ZEKTOR_ENCRYPTION_KEYS": "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
}
DEVELOPMENT_PACKAGES = {"demo", "tests", "bench"}


def copied_by_dockerfile() -> list[str]:
    """The repository paths the build stage copies (COPY lines without --from)."""
    sources: list[str] = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(word.startswith("--from") for word in words):
            sources += [word for word in words[1:-1] if not word.startswith("--")]
    return sources


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked(lock: str) -> set[str]:
    lines = (ROOT / lock).read_text().splitlines()
    return {_normalize(line.split("==")[0]) for line in lines if "==" in line}


def dev_only_modules() -> set[str]:
    """Top-level modules of the distributions that only the development lock installs."""
    dev_only = _locked("requirements-dev.lock") - _locked("requirements.lock")
    assert "trustme" in dev_only
    return {
        module
        for module, dists in importlib.metadata.packages_distributions().items()
        if all(_normalize(dist) in dev_only for dist in dists)
    }


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding exactly what the Dockerfile copies."""
    app = tmp_path_factory.mktemp("image")
    for source in copied_by_dockerfile():
        copy = shutil.copytree if (ROOT / source).is_dir() else shutil.copy
        copy(ROOT / source, app / source)
    return app


def manage(
    app: Path, *args: str, env: dict[str, str], block: bool = True
) -> subprocess.CompletedProcess[str]:
    """manage.py in ``app`` with ``env``; by default every development-only module is
    unimportable."""
    blocked = sorted(dev_only_modules() | DEVELOPMENT_PACKAGES) if block else []
    code = (
        f"import runpy, sys; sys.modules.update(dict.fromkeys({blocked!r})); "
        f"sys.argv = ['manage.py', *{list(args)!r}]; "
        "runpy.run_path('manage.py', run_name='__main__')"
    )
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ZEKTOR_", "DJANGO_", "PYTHON")) and k != "DATABASE_URL"
    }
    database = {"DATABASE_URL": f"sqlite:///{app / 'portal.sqlite3'}"}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=app,
        env={**clean, **database, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_builds_and_serves_without_development_code(image: Path):
    steps = [
        manage(image, "collectstatic", "--noinput", "-v0", env={"ZEKTOR_BOOTSTRAP": "true"}),
        manage(image, "migrate", "--noinput", "--verbosity", "0", env=PRODUCTION),
        manage(image, "check", env=PRODUCTION),
    ]
    for result in steps:
        assert result.returncode == 0, result.stderr
    assert not (image / "demo").exists()


def test_it_has_no_demo_command_in_the_image_even_in_debug(image: Path):
    result = manage(image, "load_demo", env={"ZEKTOR_DEBUG": "true"})
    assert result.returncode != 0
    assert "Unknown command: 'load_demo'" in result.stderr


def test_it_offers_the_demo_in_a_development_checkout_only_in_debug():
    debug = manage(ROOT, "help", "--commands", env={"ZEKTOR_DEBUG": "true"}, block=False)
    assert "load_demo" in debug.stdout, debug.stderr
    production = manage(ROOT, "help", "--commands", env=PRODUCTION, block=False)
    assert production.returncode == 0, production.stderr
    assert "load_demo" not in production.stdout


def python_files(source: Path) -> list[Path]:
    return sorted(source.rglob("*.py")) if source.is_dir() else [source] * (source.suffix == ".py")


def test_it_never_imports_development_code_from_production_code():
    forbidden = dev_only_modules() | DEVELOPMENT_PACKAGES
    found = []
    for source in copied_by_dockerfile():
        for path in python_files(ROOT / source):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                found += [
                    f"{path.relative_to(ROOT)}:{node.lineno} imports {name}"
                    for name in names
                    if name.split(".")[0] in forbidden
                ]
    assert found == []
