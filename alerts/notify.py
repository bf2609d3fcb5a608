"""Alerts after checks: called by ``check_instances --notify`` and ``monitor`` once the
runs are stored. Nothing here raises: an alerting problem is logged and the checks'
results and exit status stay what they are."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence

from django.utils import timezone

from alerts import delivery, digest, events
from instances.checks.report import Report
from instances.models import Instance

logger = logging.getLogger("alerts")


def _safely(what: str, function: Callable[..., object], *args: object) -> None:
    try:
        function(*args)
    except Exception:  # alerting must never break the checks
        logger.exception("alerts: %s failed", what)


def observe(instance: Instance, report: Report, now: dt.datetime) -> None:
    """Every topic of one checked instance."""
    _safely(f"availability of {instance.name}", events.observe_availability, instance, report, now)
    certificate = report.tls.certificate if report.tls else None
    if certificate is not None:
        _safely(
            f"certificate of {instance.name}",
            events.observe_certificate,
            instance,
            certificate.not_after,
            now,
        )
    _safely(f"rotation of {instance.name}", events.observe_rotation, instance, now)
    _safely(f"password age of {instance.name}", events.observe_password_age, instance, now)


def after_checks(
    instances: Sequence[Instance], reports: Sequence[Report], now: dt.datetime | None = None
) -> None:
    """Raise the alerts these checks call for, then send what is due (retries included)."""
    now = now or timezone.now()
    for instance, report in zip(instances, reports, strict=True):
        observe(instance, report, now)
    _safely("the daily digest", digest.send_due, now)
    _safely("sending", delivery.deliver_due, now)
