"""The HTTP API, version 1: `/api/v1/`, team tokens, an OpenAPI 3 schema from this code.

Each operation checks its scope, finds the instance only in the token's team, and leaves an
audit record as the token: reads as `api_read`, the rest through the portal's own services
(reveal, connection_test, rotation_*)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from django.http import HttpRequest
from django.views.decorators.http import require_GET
from ninja import NinjaAPI, Path, Query, Status

from api import schemas
from api.access import TokenAuth, instance_for, limit, require, token_of
from api.docs import CspSwagger
from api.errors import REFUSALS, ApiError, install, not_found
from api.models import Scope
from api.secrets import reveal_password
from instances import audit
from instances.checks import runs
from instances.management.commands.rotate_password import summary
from instances.models import Instance
from instances.rotation import machine
from instances.secrets import SecretUnavailable
from instances.snippets import (
    SNIPPET_IDS,
    connection_details,
    connection_uri,
    snippets_report,
)
from instances.validation import snippet_problem
from instances.views.checks import CHECK_RATE, CHECK_RATE_GROUP
from instances.views.secrets import SECRETS_RATE, SECRETS_RATE_GROUP

api = NinjaAPI(
    title="Zektor Portal API",
    version="1",
    description=(
        "Connection settings, audited reveals, connection tests and password rotations of "
        "your team's instances, for CI, scripts and deploys. Authenticate with a team API "
        "token: `Authorization: Bearer zkp_...` (a team admin creates one on the team's "
        "Tokens page, or `manage.py create_api_token`). Errors are JSON "
        '`{"error", "detail"}`.'
    ),
    urls_namespace="api-v1",
    auth=TokenAuth(),
    docs=CspSwagger(),
    docs_decorator=require_GET,
    docs_url="/docs",
    openapi_url="/openapi.json",
)
install(api)


# An instance name as the portal stores it (a slug).
InstanceName = Annotated[
    str,
    Path(
        max_length=63,
        pattern=r"^[-a-zA-Z0-9_]+$",
        description="The instance's name",
        examples=["orders-db"],
    ),
]


def answers(success: int, schema, *extra: int) -> dict:
    """The documented responses: `schema` on success, the error shape on every refusal."""
    return {success: schema, **dict.fromkeys((*REFUSALS, *extra), schemas.Error)}


def _refuse_unexpressible(instance: Instance) -> None:
    """409 for stored values no snippet or URI can carry: which instance, what to fix."""
    if problem := snippet_problem(instance):
        raise ApiError(409, "unsafe_value", problem)


def _read(request: HttpRequest, endpoint: str, instance: Instance | None = None) -> None:
    audit.record(
        "api_read",
        request=request,
        instance=instance,
        team=token_of(request).team,
        endpoint=endpoint,
    )


@api.get("/instances", response=answers(200, list[schemas.InstanceSummary]), tags=["instances"])
def list_instances(request: HttpRequest):
    """The instances of the token's team (scope `settings`); never a password."""
    token = require(request, Scope.SETTINGS)
    _read(request, "instances")
    return [
        {
            "name": instance.name,
            "engine": instance.engine,
            "tier": instance.tier,
            "status": instance.status,
            "host": instance.host,
            "port": instance.port,
            "last_check_status": instance.last_check_status or None,
            "last_check_at": instance.last_check_at.isoformat() if instance.last_check_at else None,
        }
        for instance in token.team.instances.order_by("name")
    ]


@api.get(
    "/instances/{name}", response=answers(200, schemas.InstanceDetail, 409), tags=["instances"]
)
def instance_detail(request: HttpRequest, name: InstanceName):
    """The `connection` object of `snippets --json` with `password` null (scope `settings`)."""
    instance = instance_for(request, name, Scope.SETTINGS)
    _refuse_unexpressible(instance)
    _read(request, "instance", instance)
    connection = {**connection_details(instance, None), "password": None}
    return {"instance": instance.name, "engine": instance.engine, "connection": connection}


@api.post(
    "/instances/{name}/reveal", response=answers(200, schemas.Revealed, 409, 503), tags=["secrets"]
)
def reveal(request: HttpRequest, name: InstanceName):
    """The password and the URI with it (scope `reveal`): audited as the token, throttled
    like a person's reveals."""
    instance = instance_for(request, name, Scope.REVEAL)
    limit(request, SECRETS_RATE_GROUP, SECRETS_RATE, str(token_of(request).pk))
    password = reveal_password(request, instance)
    return {"password": password, "uri": connection_uri(instance, password)}


@api.get(
    "/instances/{name}/snippets", response=answers(200, schemas.Snippets, 409), tags=["instances"]
)
def snippets(request: HttpRequest, name: InstanceName, language: str | None = None):
    """As `snippets --json`, with the password masked (scope `settings`); `language` keeps
    only the snippet with that id."""
    instance = instance_for(request, name, Scope.SETTINGS)
    ids = SNIPPET_IDS[instance.engine]
    if language is not None and language not in ids:
        raise ApiError(
            422,
            "invalid_request",
            f"No snippet {language!r} for {instance.engine}; choose one of: {', '.join(ids)}",
        )
    _refuse_unexpressible(instance)
    _read(request, "snippets", instance)
    return snippets_report(instance, None, language=language)


@api.post(
    "/instances/{name}/checks",
    response=answers(200, schemas.CheckReport, 409, 503),
    tags=["checks"],
)
def run_check(request: HttpRequest, name: InstanceName):
    """Run a connection test now (scope `test`): the web test's engine, timeout, rate limit
    and bounds; stored and audited like a web run. Returns the `check_connection --json`
    object. 409 (with `Retry-After`) while a test of the instance started by someone else
    runs: its result is in `GET .../checks` once it ends. 429 (with `Retry-After`) while
    this app server runs as many tests as it may."""
    instance = instance_for(request, name, Scope.TEST)
    token = token_of(request)
    limit(request, CHECK_RATE_GROUP, CHECK_RATE, f"{token.pk}:{instance.pk}")
    try:
        run = runs.begin(instance, actor=None, request=request, actor_name=token.actor_name)
    except runs.Busy as busy:
        raise ApiError(429, "busy", str(busy), busy.retry_after) from None
    except SecretUnavailable as problem:
        raise ApiError(503, "secret_unavailable", str(problem)) from None
    if isinstance(run, runs.Joined):
        raise ApiError(409, "check_running", str(run), run.retry_after)
    return run.report()


@api.get(
    "/instances/{name}/checks", response=answers(200, list[schemas.StoredCheck]), tags=["checks"]
)
def stored_checks(request: HttpRequest, name: InstanceName, limit: int = Query(20, ge=1, le=100)):
    """The latest stored connection tests, newest first (scope `settings`)."""
    instance = instance_for(request, name, Scope.SETTINGS)
    _read(request, "checks", instance)
    return [
        {
            "id": run.pk,
            "started_at": run.started_at.isoformat(timespec="milliseconds"),
            "status": run.status,
            "duration_ms": run.duration_ms,
            "report": run.result,
        }
        for run in instance.checks.all()[:limit]
    ]


@api.post(
    "/instances/{name}/rotations",
    response=answers(201, schemas.RotationStatus, 400, 409),
    tags=["rotations"],
)
def start_rotation(
    request: HttpRequest, name: InstanceName, body: schemas.RotationStart | None = None
):
    """Rotate the password to a new random one (scope `rotate`), with the portal's rotation
    machine: the old password keeps working until the new one logged in. 409 while another
    rotation is unfinished. The new password is never returned: reveal it if needed."""
    instance = instance_for(request, name, Scope.ROTATE)
    try:
        rotation = machine.start(
            instance, request=request, grace_seconds=body.grace_seconds if body else 0
        )
    except machine.RotationRefused as refused:
        raise ApiError(409, "rotation_refused", str(refused)) from None
    return Status(201, summary(machine.advance(rotation, request=request), False))


@api.get(
    "/instances/{name}/rotations",
    response=answers(200, list[schemas.RotationStatus]),
    tags=["rotations"],
)
def rotations(request: HttpRequest, name: InstanceName):
    """The instance's latest rotations, newest first (scope `rotate`)."""
    instance = instance_for(request, name, Scope.ROTATE)
    _read(request, "rotations", instance)
    return [summary(rotation, False) for rotation in instance.rotations.all()[:10]]


@api.get(
    "/instances/{name}/rotations/{uid}",
    response=answers(200, schemas.RotationStatus),
    tags=["rotations"],
)
def rotation_status(request: HttpRequest, name: InstanceName, uid: UUID):
    """One rotation's state and recorded steps (scope `rotate`)."""
    instance = instance_for(request, name, Scope.ROTATE)
    rotation = instance.rotations.filter(uid=uid).first()
    if rotation is None:
        raise not_found("rotation")
    _read(request, "rotation", instance)
    return summary(rotation, False)
