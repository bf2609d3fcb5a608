"""rotate_password NAME [--json]: start a password rotation, or resume / undo the
unfinished one. Crash-safe: running it again after an interruption finishes or safely
undoes the unfinished rotation. Never prints a password."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from instances.models import Instance, Rotation, RotationState
from instances.rotation import machine
from instances.secrets import SecretUnavailable


def summary(rotation: Rotation, resumed: bool) -> dict[str, Any]:
    steps = machine.transitions(rotation)
    return {
        "instance": rotation.instance.name,
        "engine": rotation.instance.engine,
        "rotation": str(rotation.uid),
        "state": rotation.state,
        "resumed": resumed,
        "reason": rotation.reason,
        "grace_until": rotation.grace_until.isoformat() if rotation.grace_until else None,
        "steps": [
            {
                "action": step.action,
                "at": step.created_at.isoformat(),
                "outcome": step.outcome,
                "warnings": step.detail.get("warnings", []),
            }
            for step in steps
        ],
    }


class Command(BaseCommand):
    help = (
        "Rotate an instance's password, or resume / undo its unfinished rotation. "
        "Exit 1 when the rotation needs attention."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", nargs="?", help="instance name")
        parser.add_argument("--json", action="store_true", help="print a JSON report")
        parser.add_argument(
            "--grace",
            type=int,
            default=0,
            metavar="SECONDS",
            help="Valkey: keep the old password working this long (default 0)",
        )
        parser.add_argument("--undo", action="store_true", help="roll back the unfinished rotation")
        parser.add_argument(
            "--finish-now",
            action="store_true",
            help="end a Valkey grace period now: remove the old password",
        )
        parser.add_argument(
            "--finish-due",
            action="store_true",
            help="instead of NAME: end every grace period that is over (for cron)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["finish_due"]:
            try:
                reports = [summary(rotation, True) for rotation in machine.finish_due()]
            except SecretUnavailable as exc:
                raise CommandError(str(exc), returncode=1) from None
            self._report(reports, options["json"])
            return
        if not options["name"]:
            raise CommandError("give an instance NAME (or --finish-due)", returncode=2)
        if options["grace"] < 0:
            raise CommandError("--grace must be 0 or more seconds", returncode=2)
        instance = Instance.objects.filter(name=options["name"]).first()
        if instance is None:
            raise CommandError(f"no instance named {options['name']!r}", returncode=2)
        rotation, resumed = self._rotate(instance, options)
        self._report(summary(rotation, resumed), options["json"])
        if rotation.state == RotationState.NEEDS_ATTENTION:
            raise CommandError(f"rotation needs attention: {rotation.reason}", returncode=1)

    def _rotate(self, instance: Instance, options: dict[str, Any]) -> tuple[Rotation, bool]:
        current = machine.unfinished(instance)
        if current is None and (options["undo"] or options["finish_now"]):
            raise CommandError(f"{instance.name} has no unfinished rotation", returncode=2)
        try:
            if current is None:
                current = machine.start(instance, grace_seconds=options["grace"])
                return machine.advance(current), False
            if options["undo"]:
                return machine.Machine(current).undo(), True
            return machine.advance(current, finish_grace=options["finish_now"]), True
        except machine.RotationRefused as exc:
            raise CommandError(str(exc), returncode=2) from None
        except SecretUnavailable as exc:
            raise CommandError(str(exc), returncode=1) from None

    def _report(self, report: dict[str, Any] | list[dict[str, Any]], as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(report, indent=2))
            return
        for item in report if isinstance(report, list) else [report]:
            self.stdout.write(self._text(item))

    def _text(self, report: dict[str, Any]) -> str:
        lines = [f"{report['instance']}: rotation {report['rotation']} is {report['state']}"]
        for step in report["steps"]:
            lines.append(f"  {step['at']}  {step['action']}  {step['outcome']}")
            lines.extend(f"    warning: {warning}" for warning in step["warnings"])
        if report["grace_until"] and report["state"] == RotationState.GRACE:
            lines.append(
                f"The old password works until {report['grace_until']}; run "
                f"`rotate_password {report['instance']}` after that (or --finish-now)."
            )
        if report["reason"]:
            lines.append(report["reason"])
        return "\n".join(lines)
