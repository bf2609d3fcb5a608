"""Runs the steps of a connection check in order, each under its own and the overall deadline,
and yields every step as it finishes."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator

from django.conf import settings

from instances.checks import hints, network
from instances.checks.limits import limits
from instances.checks.report import FAIL, SKIPPED, Outcome, Report, Step
from instances.checks.session import Aborted, Session
from instances.engines import Engine, Target, engine_for
from instances.outbound import AddressPolicy
from zektor_portal.env import IPNetwork

logger = logging.getLogger(__name__)

StepFunction = Callable[[Session], Outcome]

# Time a step gets beyond its deadline to report its own, more precise, timeout.
GRACE_SECONDS = 0.25
MASK = "••••••"


def _steps(engine: Engine) -> list[tuple[str, StepFunction]]:
    return [
        ("resolve", network.resolve),
        ("tcp", network.tcp),
        ("tls", engine.tls_step),
        ("auth", engine.auth),
        ("query", engine.query),
        ("limits", limits),
    ]


def _timed_out(name: str, target: Target, seconds: float) -> Outcome:
    after = f"within {seconds:.1f} s"
    messages = {
        "resolve": (f"The DNS lookup of {target.host} did not finish {after}.", hints.DNS_SLOW),
        "tcp": (f"Connecting to {target.host} port {target.port} timed out.", hints.FIREWALL),
        "tls": ("The server did not complete a TLS handshake in time.", hints.SILENT_TLS),
        "auth": ("The server did not complete the login in time.", hints.TIMED_OUT),
    }
    message, hint = messages.get(name, (f"The server did not answer {after}.", hints.TIMED_OUT))
    return Outcome.fail(message, hints.with_status(target, hint))


class ConnectionCheck:
    """One run against one target. Iterate ``run()`` for the steps; ``report`` holds them all.

    ``timeout`` bounds the whole run (default ``settings.ZEKTOR_CHECK_TIMEOUT``),
    ``step_timeout`` each step (default half of it, at least a second), ``deny_networks``
    and ``allow_loopback`` the addresses never contacted (default: the settings).
    """

    def __init__(
        self,
        target: Target,
        *,
        timeout: float | None = None,
        step_timeout: float | None = None,
        deny_networks: list[IPNetwork] | None = None,
        allow_loopback: bool | None = None,
    ) -> None:
        self.target = target
        self.engine = engine_for(target)
        self.timeout = float(settings.ZEKTOR_CHECK_TIMEOUT if timeout is None else timeout)
        self.step_timeout = step_timeout or max(1.0, self.timeout / 2)
        defaults = AddressPolicy.from_settings()
        self.policy = AddressPolicy(
            defaults.deny if deny_networks is None else tuple(deny_networks),
            defaults.allow_loopback if allow_loopback is None else allow_loopback,
        )
        self.report = Report(
            instance=target.name, engine=target.engine, started_at=dt.datetime.now(dt.UTC)
        )

    def run(self) -> Iterator[Step]:
        began = time.monotonic()
        self.report.started_at = dt.datetime.now(dt.UTC)
        session = Session(self.target, self.engine, self.policy, self.timeout)
        failed = False
        try:
            for name, function in _steps(self.engine):
                if failed:
                    step = Step(name, SKIPPED, 0, "Skipped: an earlier step failed.")
                else:
                    step = self._run_step(session, name, function)
                    failed = step.status == FAIL
                self.report.steps.append(step)
                self.report.tls, self.report.server = session.tls, session.server
                self.report.duration_ms = round((time.monotonic() - began) * 1000)
                yield step
        finally:
            session.close()

    def run_all(self) -> Report:
        for _ in self.run():
            pass
        return self.report

    def _run_step(self, session: Session, name: str, function: StepFunction) -> Step:
        session.start_step(self.step_timeout)
        began = time.monotonic()
        box: dict[str, Outcome] = {}
        worker = threading.Thread(
            target=self._work, args=(session, name, function, box), daemon=True
        )
        worker.start()
        worker.join(session.remaining() + GRACE_SECONDS)
        if worker.is_alive() or "outcome" not in box:
            session.abort()  # unblocks the worker; its late result is ignored
            outcome = _timed_out(name, self.target, time.monotonic() - began)
        else:
            outcome = box["outcome"]
        duration_ms = round((time.monotonic() - began) * 1000)
        return Step(
            name,
            outcome.status,
            duration_ms,
            self._redact(outcome.message),
            self._redact(outcome.hint) if outcome.hint else None,
        )

    @staticmethod
    def _work(session: Session, name: str, function: StepFunction, box: dict[str, Outcome]) -> None:
        try:
            box["outcome"] = function(session)
        except Aborted:
            pass
        except Exception as exc:
            logger.warning("connection check step %s failed: %s", name, type(exc).__name__)
            box["outcome"] = Outcome.fail(
                f"The {name} step failed unexpectedly ({type(exc).__name__}).", hints.TIMED_OUT
            )

    def _redact(self, text: str) -> str:
        """Belt and braces: no step text ever carries the password, whatever a driver said."""
        password = self.target.password
        if len(password) >= 3 and password in text:
            return text.replace(password, MASK)
        return text
