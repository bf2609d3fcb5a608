"""monitor [--interval MINUTES] [--iterations N]: for deployments without cron. Every
N minutes: end the Valkey grace periods that are due (what `rotate_password --finish-due`
does), check every instance, alert on what changed, send what is due. Stops cleanly on
SIGTERM or SIGINT, between or after the steps of a round."""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from alerts.notify import after_checks
from instances.checks.console import timeout_option
from instances.checks.service import check_many, check_target
from instances.models import Instance
from instances.rotation import machine
from instances.secrets import SecretUnavailable

logger = logging.getLogger("alerts.monitor")
ACTOR_NAME = "manage.py monitor"
MAX_INTERVAL_MINUTES = 24 * 60


class Command(BaseCommand):
    help = "Check every instance every N minutes, send alerts, end due grace periods."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--interval", type=float, default=5, metavar="MINUTES", help="default 5"
        )
        parser.add_argument(
            "--iterations", type=int, default=0, metavar="N", help="stop after N rounds"
        )
        parser.add_argument("--concurrency", type=int, default=8, help="tests run at once")
        parser.add_argument("--timeout", type=float, help="seconds each test may take")

    def handle(self, *args: Any, **options: Any) -> None:
        interval, iterations = options["interval"], options["iterations"]
        if not 0 < interval <= MAX_INTERVAL_MINUTES:
            raise CommandError(
                f"--interval must be 0 to {MAX_INTERVAL_MINUTES} minutes", returncode=2
            )
        if iterations < 0 or not 1 <= options["concurrency"] <= 64:
            raise CommandError(
                "--iterations must be 0 or more, --concurrency 1 to 64", returncode=2
            )
        timeout = timeout_option(options["timeout"])
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        rounds = 0
        while not stop.is_set():
            began = time.monotonic()
            self.round(timeout, options["concurrency"], stop)
            rounds += 1
            if iterations and rounds >= iterations:
                break
            stop.wait(max(0.0, interval * 60 - (time.monotonic() - began)))
        self.stderr.write(f"monitor: stopped after {rounds} round{'s' if rounds != 1 else ''}")

    def round(self, timeout: float | None, concurrency: int, stop: threading.Event) -> None:
        try:
            finished = machine.finish_due()
        except Exception:  # a broken rotation must not stop the checks
            logger.exception("monitor: ending due grace periods failed")
            finished = []
        if finished:
            self.stderr.write(f"monitor: ended {len(finished)} grace period(s)")
        if stop.is_set():
            return
        instances, targets = [], []
        for instance in Instance.objects.select_related("team").order_by("name"):
            try:
                targets.append(check_target(instance))
            except SecretUnavailable as problem:
                logger.error("monitor: %s Skipped.", problem)
                continue
            instances.append(instance)
        reports = check_many(
            instances, targets, timeout=timeout, concurrency=concurrency, actor_name=ACTOR_NAME
        )
        after_checks(instances, reports)
        failed = sum(report.status == "fail" for report in reports)
        self.stderr.write(f"monitor: checked {len(reports)} instance(s), {failed} failing")
