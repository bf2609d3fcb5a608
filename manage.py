#!/usr/bin/env python
import os
import sys

# Commands that help write the configuration must run before it is complete.
BOOTSTRAP_COMMANDS = {"generate_encryption_key"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zektor_portal.settings")
    if sys.argv[1:2] and sys.argv[1] in BOOTSTRAP_COMMANDS:
        os.environ["ZEKTOR_BOOTSTRAP"] = "true"
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
