"""Who acts on a rotation now. Before any server action an actor takes the rotation's lease:
under a row lock held only for that (select_for_update; SQLite's IMMEDIATE transactions
serialize the same way) it checks that nobody else holds an unexpired lease and writes its
own. A second actor is refused with who holds it and since when, until it is released or
expires (a crashed process frees it after ``LEASE_SECONDS``). Every recorded step renews it,
and records only while this actor's lease is still the rotation's."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from instances.models import Rotation

# Longer than the slowest step (a few logins, each bounded by ZEKTOR_CHECK_TIMEOUT);
# renewed at every recorded step.
LEASE_SECONDS = 120


class RotationBusy(Exception):
    """Someone else acts on this rotation now; the message says who, since when."""

    def __init__(self, owner: str, since: datetime | None, until: datetime) -> None:
        self.owner, self.since, self.until = owner, since, until
        started = f" since {since:%Y-%m-%d %H:%M:%S %Z}" if since else ""
        super().__init__(
            f"This rotation is in progress by {owner or 'someone else'}{started}. Wait until "
            f"that ends (at the latest {until:%H:%M:%S %Z}), then look at it again."
        )


def take(rotation: Rotation, owner: str) -> str:
    """This actor's lease token; raises ``RotationBusy`` while another actor holds one."""
    now = timezone.now()
    with transaction.atomic():
        row = Rotation.objects.select_for_update().only(*_FIELDS).get(pk=rotation.pk)
        if row.lease_until is not None and row.lease_until > now:
            raise RotationBusy(row.lease_owner, row.lease_since, row.lease_until)
        token = uuid.uuid4().hex
        Rotation.objects.filter(pk=rotation.pk).update(
            lease_owner=owner[:150], lease_token=token, lease_since=now, **renewal()
        )
    return token


def renewal() -> dict:
    """The change that extends a lease: part of every recorded step."""
    return {"lease_until": timezone.now() + timedelta(seconds=LEASE_SECONDS)}


def release(rotation: Rotation, token: str) -> None:
    Rotation.objects.filter(pk=rotation.pk, lease_token=token).update(
        lease_owner="", lease_token="", lease_since=None, lease_until=None
    )


def holder(rotation: Rotation) -> RotationBusy | None:
    """Who holds the rotation's lease now (as the refusal a second actor would get)."""
    if rotation.lease_until is None or rotation.lease_until <= timezone.now():
        return None
    return RotationBusy(rotation.lease_owner, rotation.lease_since, rotation.lease_until)


_FIELDS = ("pk", "lease_owner", "lease_since", "lease_until")
