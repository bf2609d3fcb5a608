"""Connection checks for stored instances: run one, keep its history, audit it."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from instances import audit
from instances.checks.report import Report, Step
from instances.checks.runner import ConnectionCheck
from instances.engines import Target, target_for
from instances.models import CheckRun, Instance
from instances.secrets import Purpose, open_password


def check_target(instance: Instance) -> Target:
    """The instance with its password opened for a connection test (SecretUnavailable)."""
    return target_for(instance, open_password(instance, Purpose.CONNECTION_TEST))


@transaction.atomic
def save_run(
    instance: Instance,
    report: Report,
    *,
    actor: User | None = None,
    request: HttpRequest | None = None,
    actor_name: str = "",
) -> CheckRun:
    """Store the run (the report holds no secret), update the instance's summary, audit it:
    one transaction, so one commit."""
    run = CheckRun.objects.create(
        instance=instance,
        actor=actor,
        actor_name=actor_name,
        started_at=report.started_at,
        duration_ms=report.duration_ms,
        status=report.status,
        result=report.as_dict(),
    )
    summary = {"last_check_status": report.status, "last_check_at": timezone.now()}
    certificate = report.tls.certificate if report.tls else None
    if certificate is not None:
        summary["cert_not_after"] = certificate.not_after
    Instance.objects.filter(pk=instance.pk).update(**summary)
    failed = next((step.name for step in report.steps if step.status == "fail"), None)
    audit.record(
        "connection_test",
        request=request,
        actor=actor,
        instance=instance,
        outcome=report.status,
        check_run=run.pk,
        duration_ms=report.duration_ms,
        failed_step=failed,
        actor_name=actor_name,
    )
    return run


def check_many(
    instances: Sequence[Instance],
    targets: Sequence[Target],
    *,
    timeout: float | None,
    concurrency: int,
    actor_name: str,
) -> list[Report]:
    """Run the checks in parallel threads, then store every run from this thread in one
    commit (the threads never touch the portal's database)."""
    checks = [ConnectionCheck(target, timeout=timeout) for target in targets]
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        reports = list(pool.map(ConnectionCheck.run_all, checks))
    with transaction.atomic():
        for instance, report in zip(instances, reports, strict=True):
            save_run(instance, report, actor_name=actor_name)
    return reports


class InstanceCheck:
    """A check of a stored instance whose result is saved once it finishes, however the
    caller stops listening (a browser that goes away still gets its run recorded)."""

    def __init__(
        self,
        instance: Instance,
        *,
        actor: User | None = None,
        request: HttpRequest | None = None,
        actor_name: str = "",
        **engine_options: Any,
    ) -> None:
        self.instance = instance
        self.actor, self.request, self.actor_name = actor, request, actor_name
        self.check = ConnectionCheck(check_target(instance), **engine_options)
        self.stored: CheckRun | None = None

    @property
    def report(self) -> Report:
        return self.check.report

    def steps(self) -> Generator[Step, None, None]:
        steps = self.check.run()
        try:
            # Not ``yield from``: closing this generator must not close ``steps``.
            for step in steps:  # noqa: UP028
                yield step
        finally:
            for _ in steps:  # finish within the deadline even if nobody listens any more
                pass
            self.save()

    def run(self) -> Report:
        for _ in self.steps():
            pass
        return self.report

    def save(self) -> CheckRun:
        self.stored = save_run(
            self.instance,
            self.report,
            actor=self.actor,
            request=self.request,
            actor_name=self.actor_name,
        )
        return self.stored
