from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from instances import audit
from instances.importer import ImportFileError, apply_records, load_file, parse_records


class Command(BaseCommand):
    help = "Import instances from a YAML or JSON file (upsert by name, all or nothing)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--dry-run", action="store_true", help="validate and report, change nothing"
        )

    def handle(self, *args, file: Path, dry_run: bool, **options) -> None:
        actor = audit.command_actor("import_instances")
        try:
            records = parse_records(load_file(file))
            result = apply_records(records, dry_run=dry_run, actor_name=actor)
        except ImportFileError as exc:
            raise CommandError(f"nothing imported: {exc}", returncode=2) from None
        prefix = "dry run, nothing changed: would have " if dry_run else ""
        self.stdout.write(
            f"{prefix}created {len(result.created)}, updated {len(result.updated)}, "
            f"unchanged {len(result.unchanged)} instance(s)"
            + (f"; new teams: {', '.join(result.teams_created)}" if result.teams_created else "")
        )
        if not dry_run:
            audit.record(
                "import",
                actor_name=actor,
                file=file.name,
                created=result.created,
                updated=result.updated,
            )
