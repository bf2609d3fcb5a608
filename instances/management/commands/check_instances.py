from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from alerts.notify import after_checks
from instances.checks.console import as_json, as_text, exit_status, timeout_option
from instances.checks.service import check_many, check_target
from instances.models import Instance
from instances.secrets import SecretUnavailable

MAX_CONCURRENCY = 64
ACTOR_NAME = "manage.py check_instances"


class Command(BaseCommand):
    help = (
        "Test the connection to several instances (for cron). Exit 1 if any failed, "
        "2 for bad usage or an unknown name."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", metavar="NAME", help="instance names")
        parser.add_argument(
            "--all",
            action="store_true",
            dest="every",
            help="test every instance that is not archived",
        )
        parser.add_argument("--json", action="store_true", help="print a JSON list of reports")
        parser.add_argument(
            "--concurrency", type=int, default=8, help="tests run at once (default 8)"
        )
        parser.add_argument(
            "--timeout", type=float, help="seconds each test may take (default: settings)"
        )
        parser.add_argument(
            "--notify", action="store_true", help="send alerts for state changes (see alerts)"
        )

    def handle(
        self,
        *args: Any,
        names: list[str],
        every: bool,
        json: bool,
        concurrency: int,
        timeout: float | None,
        notify: bool,
        **options: Any,
    ) -> None:
        timeout = timeout_option(timeout)
        if not 1 <= concurrency <= MAX_CONCURRENCY:
            raise CommandError(f"--concurrency must be 1 to {MAX_CONCURRENCY}", returncode=2)
        instances = self._instances(names, every)
        targets = []
        for instance in instances:
            try:
                targets.append(check_target(instance))
            except SecretUnavailable as problem:
                raise CommandError(str(problem), returncode=1) from None
        reports = check_many(
            instances, targets, timeout=timeout, concurrency=concurrency, actor_name=ACTOR_NAME
        )
        if json:
            self.stdout.write(as_json([report.as_dict() for report in reports]))
        else:
            self.stdout.write("\n".join(as_text(report) for report in reports))
        if notify:  # after the results are out: alerting never delays or changes them
            after_checks(instances, reports)
        exit_status(reports)

    @staticmethod
    def _instances(names: list[str], every: bool) -> list[Instance]:
        if not names and not every:
            raise CommandError("name at least one instance, or use --all", returncode=2)
        query = Instance.objects.select_related("team").order_by("name")
        if every:  # the fleet: archived instances are off the lists and off cron too
            return list(query.filter(archived_at__isnull=True))
        found = {instance.name: instance for instance in query.filter(name__in=names)}
        missing = [name for name in names if name not in found]
        if missing:
            raise CommandError(f"no instance named {', '.join(missing)}", returncode=2)
        return [found[name] for name in dict.fromkeys(names)]
