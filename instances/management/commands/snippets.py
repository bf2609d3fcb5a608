"""`snippets NAME [--json] [--language ID]`: an instance's snippets, password included."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from instances import audit
from instances.models import Instance
from instances.secrets import Purpose, SecretUnavailable, open_password
from instances.snippets import SNIPPET_IDS, Snippet, build_snippets, snippets_report


class Command(BaseCommand):
    help = "Print an instance's connection snippets with its password (this command's job)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="instance name")
        parser.add_argument("--json", action="store_true", help="print JSON to stdout")
        parser.add_argument("--language", metavar="ID", help="only the snippet with this id")

    def handle(self, *args: Any, name: str, language: str | None, **options: Any) -> None:
        instance = Instance.objects.filter(name=name).first()
        if instance is None:
            raise CommandError(f"no instance named {name!r}", returncode=2)
        ids = SNIPPET_IDS[instance.engine]
        if language is not None and language not in ids:
            raise CommandError(
                f"no snippet {language!r} for {instance.engine}; choose one of: {', '.join(ids)}",
                returncode=2,
            )
        try:
            password = open_password(
                instance, Purpose.SNIPPETS_COMMAND, actor_name=audit.command_actor("snippets")
            )
        except SecretUnavailable as problem:
            raise CommandError(str(problem), returncode=problem.exit_code) from None
        if options["json"]:
            report = snippets_report(instance, password, language=language)
            self.stdout.write(json.dumps(report, ensure_ascii=False, indent=2))
        else:
            snippets = build_snippets(instance, password, language=language)
            self.stdout.write(_text_report(instance, snippets))


def _text_report(instance: Instance, snippets: list[Snippet]) -> str:
    blocks = [f"{instance.name} ({instance.engine})"]
    for snippet in snippets:
        where = f" — {snippet.filename}" if snippet.filename else ""
        blocks.append(f"== {snippet.title} [{snippet.id}]{where}")
        for file in snippet.files[:-1]:  # the last one is the main file, `code`
            blocks.append(f"-- {file.filename}\n{file.code}")
        blocks.append(snippet.code)
        if snippet.resilience:
            blocks.append(f"-- {snippet.title}: pool, timeouts and retries\n{snippet.resilience}")
    return "\n\n".join(blocks)
