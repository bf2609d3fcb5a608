"""A team's onboarding page: every instance in one chosen language, and a `.env` download."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from instances.access import get_team_for
from instances.escaping import phpdotenv_value
from instances.models import Instance, Membership, Role, Team
from instances.secrets import Purpose, SecretUnavailable, open_password
from instances.snippets import Snippet, build_snippets, connection_uri
from instances.validation import snippet_problem
from instances.views.secrets import throttled
from instances.views.snippet_panels import SnippetPanel, masked_panels

DEFAULT_SNIPPET = "uri"

# What to install before a snippet runs, by snippet id.
INSTALL_COMMANDS = {
    "psql": "sudo apt install postgresql-client",
    "psql-uri": "sudo apt install postgresql-client",
    "node-pg": "npm install pg",
    "psycopg2": "pip install psycopg2-binary",
    "psycopg": 'pip install "psycopg[binary]"',
    "go-pgx": "go get github.com/jackc/pgx/v5",
    "prisma": "npm install prisma @prisma/client",
    "drizzle": "npm install drizzle-orm pg",
    "django": 'pip install Django "psycopg[binary]"',
    "laravel": "sudo apt install php-pgsql",
    "rails": "bundle add pg",
    "valkey-cli": "sudo apt install valkey-tools",
    "redis-cli": "sudo apt install redis-tools",
    "ioredis": "npm install ioredis",
    "redis-py": "pip install redis",
    "go-redis": "go get github.com/redis/go-redis/v9",
    "bullmq": "npm install bullmq",
}


@dataclass(frozen=True)
class InstanceOnboarding:
    instance: Instance
    env_var: str
    panels: list[SnippetPanel]


def env_var_name(instance: Instance) -> str:
    return f"ZEKTOR_{re.sub(r'[^A-Za-z0-9]', '_', instance.name).upper()}_URL"


def language_choices(snippet_lists: list[list[Snippet]]) -> dict[str, str]:
    """Snippet id -> title, in engine order, each id once."""
    choices: dict[str, str] = {}
    for snippets in snippet_lists:
        for snippet in snippets:
            choices.setdefault(snippet.id, snippet.title)
    return choices


def pick_snippet(snippets: list[Snippet], chosen: Snippet | None) -> list[Snippet]:
    """The chosen snippet, else one in the same language (redis-py for psycopg), else the URI."""
    if chosen is None:
        return [s for s in snippets if s.id == DEFAULT_SNIPPET] or snippets[:1]
    for found in (
        [s for s in snippets if s.id == chosen.id],
        [s for s in snippets if s.language == chosen.language],
    ):
        if found:
            return found[:1]
    return pick_snippet(snippets, None)


def render_onboarding(
    request: HttpRequest, team: Team, membership: Membership, *, errors: Sequence[str] = ()
) -> HttpResponse:
    instances = list(team.instances.filter(archived_at__isnull=True).order_by("name"))
    problems = {i.pk: problem for i in instances if (problem := snippet_problem(i))}
    snippet_lists = [[] if i.pk in problems else build_snippets(i) for i in instances]
    choices = language_choices(snippet_lists)
    language = request.GET.get("language", "")
    language = language if language in choices else ""
    chosen = next((s for ss in snippet_lists for s in ss if s.id == language), None)
    rows = [
        InstanceOnboarding(
            instance, env_var_name(instance), masked_panels(instance, pick_snippet(ss, chosen))
        )
        for instance, ss in zip(instances, snippet_lists, strict=True)
    ]
    context = {
        "team": team,
        "membership": membership,
        "rows": rows,
        "choices": choices,
        "language": language,
        "install": INSTALL_COMMANDS.get(language, ""),
        "can_download": membership.allows(Role.MEMBER),
        "errors": list(dict.fromkeys([*errors, *problems.values()])),
    }
    return render(request, "teams/onboarding.html", context)


@login_required
@require_GET
def team_onboarding(request: HttpRequest, team_id: int) -> HttpResponse:
    team, membership = get_team_for(request.user, team_id)
    return render_onboarding(request, team, membership)


@login_required
@require_POST
def env_download(request: HttpRequest, team_id: int) -> HttpResponse:
    """A `.env` with one URL per instance; every password read is audited as `env_download`."""
    team, membership = get_team_for(request.user, team_id, Role.MEMBER)
    if response := throttled(request):
        return response
    lines, errors = [], []
    for instance in team.instances.filter(archived_at__isnull=True).order_by("name"):
        try:
            password = open_password(instance, Purpose.DOWNLOAD, request=request)
        except SecretUnavailable as problem:
            errors.append(str(problem))
            continue
        uri = phpdotenv_value(connection_uri(instance, password))
        lines.append(f"{env_var_name(instance)}={uri}")
    if errors:
        return render_onboarding(request, team, membership, errors=errors)
    response = HttpResponse(env_file(team, request.user.get_username(), lines))
    response["Content-Type"] = "text/plain; charset=utf-8"
    response["Content-Disposition"] = 'attachment; filename=".env"'
    return response


def env_file(team: Team, username: str, lines: list[str]) -> str:
    header = [
        f"# Connection strings of team {one_line(team.name)} from Zektor Portal,",
        f"# downloaded by {one_line(username)} at {timezone.now():%Y-%m-%d %H:%M} UTC.",
        "# Holds passwords: keep it out of version control (add .env to .gitignore).",
    ]
    return "\n".join([*header, *lines]) + "\n"


def one_line(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", " ", text)
