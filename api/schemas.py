"""The API's JSON shapes: those of `snippets --json`, `check_connection --json` and
`rotate_password --json` (shared/interface.md). The OpenAPI schema is generated from these."""

from __future__ import annotations

from typing import Literal

from ninja import Field, Schema
from pydantic import ConfigDict

StepName = Literal["resolve", "tcp", "tls", "auth", "query", "limits"]
StepStatus = Literal["ok", "warn", "fail", "skipped"]
RunStatus = Literal["ok", "warn", "fail"]


class Error(Schema):
    error: str = Field(description="A machine-readable code, e.g. invalid_token")
    detail: str = Field(description="What went wrong and what to do, for people")


class InstanceSummary(Schema):
    name: str
    engine: Literal["postgresql", "valkey"]
    tier: str
    status: str
    host: str
    port: int
    last_check_status: str | None
    last_check_at: str | None


class Connection(Schema):
    host: str
    port: int
    username: str
    password: str | None = Field(
        description="null here; masked in snippets; only the audited reveal returns it"
    )
    database: str | None
    uri: str
    ca_file: str | None


class InstanceDetail(Schema):
    instance: str
    engine: str
    connection: Connection


class Snippet(Schema):
    # Passes on what `snippets --json` adds (e.g. `files` of multi-file snippets).
    model_config = ConfigDict(extra="allow")

    id: str
    title: str
    language: str
    code: str
    filename: str | None
    resilience: str | None = None


class Snippets(InstanceDetail):
    snippets: list[Snippet]


class Revealed(Schema):
    password: str
    uri: str = Field(description="The connection URI with the password, escaped for URIs")


class Step(Schema):
    name: StepName
    status: StepStatus
    duration_ms: int
    message: str
    hint: str | None


class Certificate(Schema):
    subject: str
    issuer: str
    not_after: str
    days_left: int
    hostname_match: bool
    chain_valid: bool


class Tls(Schema):
    version: str
    cipher: str
    certificate: Certificate | None


class Server(Schema):
    version: str
    connections: int | None
    max_connections: int | None


class CheckReport(Schema):
    instance: str
    engine: str
    status: RunStatus
    started_at: str
    duration_ms: int
    steps: list[Step]
    tls: Tls | None
    server: Server | None


class StoredCheck(Schema):
    id: int
    started_at: str
    status: RunStatus
    duration_ms: int
    report: CheckReport


class RotationStart(Schema):
    model_config = ConfigDict(strict=True, extra="forbid")  # false is not 0, typos are errors

    grace_seconds: int = Field(
        0, ge=0, le=604800, description="Valkey: keep the old password working this long"
    )


class RotationStep(Schema):
    action: str
    at: str
    outcome: str
    warnings: list[str]


class RotationStatus(Schema):
    instance: str
    engine: str
    rotation: str
    state: str
    resumed: bool
    reason: str
    grace_until: str | None
    steps: list[RotationStep]
