from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from instances.checks.console import as_json, as_text, exit_status, timeout_option
from instances.checks.service import InstanceCheck
from instances.models import Instance
from instances.secrets import SecretUnavailable


class Command(BaseCommand):
    help = (
        "Test the connection to one instance: DNS, TCP, TLS, login, a query, limits. "
        "Exit 0 when ok or warn, 1 when it fails, 2 for bad usage."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="instance name")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument(
            "--timeout", type=float, help="seconds the whole test may take (default: settings)"
        )

    def handle(
        self, *args: Any, name: str, json: bool, timeout: float | None, **options: Any
    ) -> None:
        timeout = timeout_option(timeout)
        instance = Instance.objects.select_related("team").filter(name=name).first()
        if instance is None:
            raise CommandError(f"no instance named {name!r}", returncode=2)
        try:
            check = InstanceCheck(
                instance, actor_name="manage.py check_connection", timeout=timeout
            )
        except SecretUnavailable as problem:
            raise CommandError(str(problem), returncode=1) from None
        report = check.run()
        self.stdout.write(as_json(report.as_dict()) if json else as_text(report))
        exit_status([report])
