"""Re-encrypting every stored secret under the primary key. Safe to interrupt and re-run:
each row is re-sealed in its own transaction and rows already under the primary are skipped."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from django.apps import apps
from django.db import transaction

from instances.crypto import DecryptionError, Keyring, keyring
from instances.models import SealedFieldsMixin
from instances.secrets import reseal


@dataclass
class ResealReport:
    resealed: int = 0
    current: int = 0
    errors: list[str] = field(default_factory=list)


def sealed_models() -> list[type[SealedFieldsMixin]]:
    return [m for m in apps.get_models() if issubclass(m, SealedFieldsMixin)]


def reseal_all(ring: Keyring | None = None) -> Iterator[ResealReport]:
    """Yield the running report after each row, so callers may stop (or crash) anywhere."""
    ring = ring or keyring()
    report = ResealReport()
    for model in sealed_models():
        for pk in model._default_manager.order_by("pk").values_list("pk", flat=True):
            try:
                resealed = _reseal_row(model, pk, ring)
            except DecryptionError as exc:
                report.errors.append(str(exc))
                continue
            report.resealed += resealed
            report.current += len(model.SEALED_FIELDS) - resealed
            yield report


def _reseal_row(model: type[SealedFieldsMixin], pk: int, ring: Keyring) -> int:
    with transaction.atomic():
        row = model._default_manager.select_for_update().get(pk=pk)
        stale = [
            f for f in model.SEALED_FIELDS if getattr(row, f) and ring.needs_reseal(getattr(row, f))
        ]
        for name in stale:
            setattr(row, name, reseal(row, name, ring))
        if stale:
            model._default_manager.filter(pk=pk).update(
                **{name: getattr(row, name) for name in stale}
            )
        return len(stale)
