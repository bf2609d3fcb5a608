"""The check report: steps, TLS and server facts, and its JSON shape (shared/interface.md)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

STEP_NAMES = ("resolve", "tcp", "tls", "auth", "query", "limits")

OK, WARN, FAIL, SKIPPED = "ok", "warn", "fail", "skipped"
_SEVERITY = {SKIPPED: 0, OK: 0, WARN: 1, FAIL: 2}


def worst(statuses: list[str]) -> str:
    """Overall status: the worst step (skipped steps only follow a failed one)."""
    rank = max((_SEVERITY[status] for status in statuses), default=0)
    return {0: OK, 1: WARN, 2: FAIL}[rank]


@dataclass(frozen=True)
class Outcome:
    """What a step function concludes; the engine adds its name and timing."""

    status: str
    message: str
    hint: str | None = None

    @classmethod
    def ok(cls, message: str) -> Outcome:
        return cls(OK, message)

    @classmethod
    def warn(cls, message: str, hint: str | None) -> Outcome:
        return cls(WARN, message, hint)

    @classmethod
    def fail(cls, message: str, hint: str | None) -> Outcome:
        return cls(FAIL, message, hint)


@dataclass(frozen=True)
class Step:
    name: str
    status: str
    duration_ms: int
    message: str
    hint: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Certificate:
    subject: str
    issuer: str
    not_after: dt.datetime
    days_left: int
    hostname_match: bool
    chain_valid: bool

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "not_after": self.not_after.isoformat()}


@dataclass(frozen=True)
class TlsInfo:
    version: str
    cipher: str
    certificate: Certificate | None

    def as_dict(self) -> dict[str, Any]:
        certificate = self.certificate.as_dict() if self.certificate else None
        return {"version": self.version, "cipher": self.cipher, "certificate": certificate}


@dataclass(frozen=True)
class ServerFacts:
    version: str
    connections: int | None
    max_connections: int | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Report:
    instance: str
    engine: str
    started_at: dt.datetime
    duration_ms: int = 0
    steps: list[Step] = field(default_factory=list)
    tls: TlsInfo | None = None
    server: ServerFacts | None = None

    @property
    def status(self) -> str:
        return worst([step.status for step in self.steps])

    def as_dict(self) -> dict[str, Any]:
        return {
            "instance": self.instance,
            "engine": self.engine,
            "status": self.status,
            "started_at": self.started_at.isoformat(timespec="milliseconds"),
            "duration_ms": self.duration_ms,
            "steps": [step.as_dict() for step in self.steps],
            "tls": self.tls.as_dict() if self.tls else None,
            "server": self.server.as_dict() if self.server else None,
        }
