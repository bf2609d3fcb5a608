from django.core.management.base import BaseCommand, CommandError

from instances import audit
from instances.crypto import keyring
from instances.keyrotation import ResealReport, reseal_all


class Command(BaseCommand):
    help = "Re-encrypt every stored secret under the primary key (resumable)."

    def handle(self, *args, **options) -> None:
        ring = keyring()
        report = ResealReport()
        for report in reseal_all(ring):  # noqa: B007  (the last report is the total)
            pass
        self.stdout.write(
            f"re-encrypted {report.resealed} secret(s) under key {ring.primary_id!r}; "
            f"{report.current} already were"
        )
        audit.record(
            "encryption_key_rotation",
            actor_name="manage.py rotate_encryption_key",
            outcome="failed" if report.errors else "ok",
            primary_key_id=ring.primary_id,
            resealed=report.resealed,
            errors=len(report.errors),
        )
        if report.errors:
            for error in report.errors:
                self.stderr.write(error)
            raise CommandError(f"{len(report.errors)} secret(s) could not be read", returncode=1)
