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

from accounts.stepup import step_up_required
from instances.access import get_team_for
from instances.escaping import phpdotenv_value
from instances.models import Instance, Membership, Role, Team
from instances.secrets import Purpose, SecretUnavailable, open_password
from instances.snippets import (
    ECOSYSTEMS,
    Snippet,
    build_snippets,
    connection_details,
    connection_uri,
)
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
    "prisma": "npm install prisma @prisma/client @prisma/adapter-pg dotenv",
    "drizzle": "npm install drizzle-orm pg",
    "postgres-js": "npm install postgres",
    "django": 'pip install Django "psycopg[binary]"',
    "sqlalchemy": 'pip install SQLAlchemy "psycopg[binary]"',
    "asyncpg": "pip install asyncpg",
    "jdbc": "Maven: org.postgresql:postgresql (Debian: sudo apt install libpostgresql-jdbc-java)",
    "spring-boot": "Maven: spring-boot-starter-jdbc and org.postgresql:postgresql",
    "php-pdo": "sudo apt install php-pgsql",
    "laravel": "sudo apt install php-pgsql",
    "rails": "bundle add pg",
    "valkey-cli": "sudo apt install valkey-tools",
    "redis-cli": "sudo apt install redis-tools",
    "ioredis": "npm install ioredis",
    "redis-py": "pip install redis",
    "go-redis": "go get github.com/redis/go-redis/v9",
    "bullmq": "npm install bullmq",
    "node-redis": "npm install redis",
    "django-cache": "pip install Django redis",
    "celery": 'pip install "celery[redis]"',
    "phpredis": "sudo apt install php-redis",
    "redis-rb": "bundle add redis",
}
# Clients that take the password apart from any URL (pgjdbc misreads it there; PDO, Laravel
# and phpredis take it as an argument): for them the .env also holds each part.
PARTS_LANGUAGES = {"jdbc", "spring-boot", "php-pdo", "laravel", "phpredis", "redis-rb"}


@dataclass(frozen=True)
class InstanceOnboarding:
    instance: Instance
    env_var: str
    panels: list[SnippetPanel]


def env_var_name(instance: Instance) -> str:
    return f"ZEKTOR_{re.sub(r'[^A-Za-z0-9]', '_', instance.name).upper()}_URL"


def language_choices(snippet_lists: list[list[Snippet]]) -> dict[str, dict[str, str]]:
    """Ecosystem -> {snippet id: title}, in picker order, each id once."""
    choices: dict[str, dict[str, str]] = {ecosystem: {} for ecosystem in ECOSYSTEMS}
    for snippets in snippet_lists:
        for snippet in snippets:
            choices[snippet.ecosystem].setdefault(snippet.id, snippet.title)
    return {ecosystem: titles for ecosystem, titles in choices.items() if titles}


def pick_snippet(snippets: list[Snippet], chosen: Snippet | None) -> list[Snippet]:
    """The chosen snippet, else one of the same ecosystem (redis-py for psycopg), else the URI."""
    if chosen is None:
        return [s for s in snippets if s.id == DEFAULT_SNIPPET] or snippets[:1]
    for found in (
        [s for s in snippets if s.id == chosen.id],
        [s for s in snippets if s.ecosystem == chosen.ecosystem],
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
    language = language if any(language in titles for titles in choices.values()) else ""
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
        "parts": language in PARTS_LANGUAGES,
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
@step_up_required
def env_download(request: HttpRequest, team_id: int) -> HttpResponse:
    """A `.env` with one URL per instance; every password read is audited as `env_download`."""
    team, membership = get_team_for(request.user, team_id, Role.MEMBER)
    if response := throttled(request):
        return response
    parts = request.POST.get("language") in PARTS_LANGUAGES
    lines, errors = [], []
    for instance in team.instances.filter(archived_at__isnull=True).order_by("name"):
        try:
            password = open_password(instance, Purpose.DOWNLOAD, request=request)
        except SecretUnavailable as problem:
            errors.append(str(problem))
            continue
        lines += env_lines(instance, password, parts=parts)
    if errors:
        return render_onboarding(request, team, membership, errors=errors)
    response = HttpResponse(env_file(team, request.user.get_username(), lines))
    response["Content-Type"] = "text/plain; charset=utf-8"
    response["Content-Disposition"] = 'attachment; filename=".env"'
    return response


def env_lines(instance: Instance, password: str, *, parts: bool) -> list[str]:
    """The instance's URL variable, and with `parts` one variable per connection detail."""
    name = env_var_name(instance)
    values = {name: connection_uri(instance, password)}
    if parts:
        stem = name.removesuffix("_URL")
        details = connection_details(instance, password)
        for key in ("host", "port", "username", "password", "database"):
            if details[key] is not None:
                values[f"{stem}_{key.upper()}"] = str(details[key])
    return [f"{key}={phpdotenv_value(value)}" for key, value in values.items()]


def env_file(team: Team, username: str, lines: list[str]) -> str:
    header = [
        f"# Connection strings of team {one_line(team.name)} from Zektor Portal,",
        f"# downloaded by {one_line(username)} at {timezone.now():%Y-%m-%d %H:%M} UTC.",
        "# Holds passwords: keep it out of version control (add .env to .gitignore).",
    ]
    return "\n".join([*header, *lines]) + "\n"


def one_line(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", " ", text)
