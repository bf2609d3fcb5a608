"""Run as ``python -m tests.alert_race N``: N threads, each with its own database
connection, report the same check results at the same moment, round after round
(fail, pass, fail, ...). Prints the alerts raised, as JSON."""

from __future__ import annotations

import json
import sys
import threading

import django

ROUNDS = 6


def main(threads: int) -> None:
    django.setup()
    from django.db import connection
    from django.utils import timezone

    from alerts import events
    from alerts.models import Alert, TeamAlertSettings
    from instances.checks.report import FAIL, OK, Report, Step
    from instances.models import Instance

    instance = Instance.objects.select_related("team").get(name="down-cache")
    TeamAlertSettings.objects.update_or_create(
        team=instance.team, defaults={"failure_threshold": 1}
    )
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def report(status: str) -> Report:
        step = Step("tcp", status, 1, "refused" if status == FAIL else "connected")
        return Report(instance.name, instance.engine, timezone.now(), steps=[step])

    def worker() -> None:
        try:
            for round_ in range(ROUNDS):
                barrier.wait(timeout=30)
                result = report(FAIL if round_ % 2 == 0 else OK)
                events.observe_availability(instance, result, timezone.now())
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()
        finally:
            connection.close()

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    if errors:
        raise errors[0]
    print(json.dumps(list(Alert.objects.order_by("id").values_list("event", flat=True))))


if __name__ == "__main__":
    main(int(sys.argv[1]))
