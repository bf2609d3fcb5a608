"""How the management commands print reports: JSON for programs, a short table for people."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError

from instances.checks.report import FAIL, Report

MARKS = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL", "skipped": "skip"}
MAX_TIMEOUT = 120.0


def timeout_option(value: float | None) -> float | None:
    if value is not None and not 0 < value <= MAX_TIMEOUT:
        raise CommandError(f"--timeout must be between 0 and {MAX_TIMEOUT:g} seconds", returncode=2)
    return value


def as_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def as_text(report: Report) -> str:
    lines = [
        f"{report.instance} ({report.engine}): {report.status.upper()} in {report.duration_ms} ms"
    ]
    for step in report.steps:
        lines.append(
            f"  {MARKS[step.status]}  {step.name:<8}{step.duration_ms:>6} ms  {step.message}"
        )
        if step.hint and step.status in ("warn", "fail"):
            lines.append(f"{'':>26}hint: {step.hint}")
    return "\n".join(lines)


def exit_status(reports: list[Report]) -> None:
    failed = [report.instance for report in reports if report.status == FAIL]
    if failed:
        raise CommandError(f"connection test failed: {', '.join(failed)}", returncode=1)
