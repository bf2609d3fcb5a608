import secrets
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from instances.crypto import generate_key_entry


class Command(BaseCommand):
    help = "Print a new KEYID:BASE64 entry for ZEKTOR_ENCRYPTION_KEYS (first = primary)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--key-id", help="default: k<date>-<random>")

    def handle(self, *args, key_id: str | None, **options) -> None:
        key_id = key_id or f"k{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(2)}"
        if not key_id.replace("-", "").replace("_", "").isalnum() or len(key_id) > 32:
            raise CommandError("--key-id: use 1-32 of A-Z a-z 0-9 - _", returncode=2)
        self.stdout.write(generate_key_entry(key_id))
