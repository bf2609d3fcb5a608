"""Password rotation as a recorded state machine that never loses a working credential.

created → applied → verified → promoted → (grace →) done, or needs_attention with the
reason; undone when safely rolled back. The new password is sealed on the Rotation row
before the server sees it; the instance's stored password changes only after a fresh
login with the new one worked. Every step is idempotent: when a run stops anywhere
(crash, network), running again tests which password logs in and goes on from there."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from instances.audit import record
from instances.engines import Target, engine_for, target_for
from instances.models import (
    FINISHED_ROTATION_STATES,
    AuditEvent,
    Instance,
    Rotation,
    RotationState,
)
from instances.rotation.errors import (
    LoginRefused,
    RotationError,
    ServerUnavailable,
    redact,
)
from instances.secrets import Purpose, SecretUnavailable, open_password, open_rotation
from instances.validation import text_problem

logger = logging.getLogger("instances.rotation")

COMMAND_ACTOR = "rotate_password"
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256

STORED_HINT = (
    "What to do: set the password that works now in Django admin (Instances → {name} → "
    "Password), then press Resume or run `manage.py rotate_password {name}`: it finishes "
    "the rotation if the new password works, or safely undoes it."
)
RETRY_HINT = (
    "Nothing was lost: the old and the new password are both kept. What to do: make sure "
    "the server is reachable, then press Resume or run `manage.py rotate_password {name}`."
)
REFUSED_HINT = (
    "Nothing was lost. What to do: let the user change its own password on the server "
    "(Valkey: ACL permission, or use the default user), then press Resume, or press Undo."
)

Checkpoint = Callable[[str], None]


class RotationRefused(Exception):
    """The request cannot be carried out as asked; the message says why."""


class RotationInProgress(RotationRefused):
    pass


def check_password(value: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(value) <= MAX_PASSWORD_LENGTH:
        raise RotationRefused(
            f"A new password needs {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters."
        )
    if problem := text_problem(value):
        raise RotationRefused(f"A new password cannot be used: it {problem}.")


def preview(instance: Instance) -> dict[str, Any]:
    """Who is connected as the instance user now: they must restart with the new password.
    RotationError when the server cannot tell, SecretUnavailable without a password."""
    password = open_password(instance, Purpose.ROTATION)
    return engine_for(instance).connected_clients(target_for(instance, password))


def unfinished(instance: Instance) -> Rotation | None:
    return instance.rotations.exclude(state__in=FINISHED_ROTATION_STATES).first()


def transitions(rotation: Rotation) -> QuerySet[AuditEvent]:
    """The audit events of one rotation, oldest first: its recorded progress."""
    return AuditEvent.objects.filter(
        instance=rotation.instance, detail__rotation=str(rotation.uid)
    ).order_by("created_at", "id")


def _by(request: HttpRequest | None) -> dict[str, Any]:
    """Who acts: the signed-in user of a request, else the management command."""
    return {"request": request} if request else {"actor_name": COMMAND_ACTOR}


def _audit(rotation: Rotation, action: str, request: HttpRequest | None, **detail: Any) -> None:
    record(action, instance=rotation.instance, rotation=str(rotation.uid), **_by(request), **detail)


def start(
    instance: Instance,
    *,
    request: HttpRequest | None = None,
    new_password: str | None = None,
    grace_seconds: int = 0,
) -> Rotation:
    """Record a new rotation with its sealed new password; nothing touches the server yet.
    SecretUnavailable when the stored password cannot be decrypted."""
    if new_password is not None:
        check_password(new_password)
    new = new_password or secrets.token_urlsafe(32)
    current = open_password(instance, Purpose.ROTATION)
    if new == current:
        raise RotationRefused("The new password must differ from the current one.")
    actor = request.user if request and request.user.is_authenticated else None
    grace = grace_seconds if engine_for(instance).dual_passwords else 0
    rotation = Rotation(instance=instance, actor=actor, grace_seconds=max(0, grace))
    rotation.seal("pending_sealed", new)
    rotation.seal("old_sealed", current)
    try:
        with transaction.atomic():
            rotation.save()
            _audit(
                rotation,
                "rotation_started",
                request,
                state=rotation.state,
                generated=new_password is None,
                grace_seconds=rotation.grace_seconds,
            )
    except IntegrityError:
        message = (
            f"A rotation is already in progress for {instance.name}: resume, finish or undo "
            "it first."
        )
        record(
            "rotation_started", instance=instance, outcome="refused", reason=message, **_by(request)
        )
        raise RotationInProgress(message) from None
    logger.info("rotation %s of %s: created", rotation.uid, instance.name)
    return rotation


class _Conflict(Exception):
    """Another process moved the rotation on while this one worked."""


class Machine:
    """Runs one rotation's steps; `checkpoint(name)` is called after each recorded step
    and once right after the server changed (tests raise there to simulate a crash).
    SecretUnavailable when the rotation's sealed passwords cannot be decrypted."""

    def __init__(
        self,
        rotation: Rotation,
        *,
        request: HttpRequest | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        self.rotation = rotation
        self.instance = rotation.instance
        self.engine = engine_for(self.instance)
        self.target = target_for(self.instance, "")
        self.request = request
        self.checkpoint = checkpoint or (lambda name: None)
        # Finished rotations no longer hold secrets.
        self.old, self.pending = ("", "") if rotation.finished else open_rotation(rotation)

    # ---------------------------------------------------------------- driving

    def run(self, *, finish_grace: bool = False) -> Rotation:
        """Take as many steps as possible; stops when finished, waiting or stuck."""
        steps: dict[str, Callable[[], bool]] = {
            RotationState.CREATED: self._apply,
            RotationState.APPLIED: self._verify,
            RotationState.VERIFIED: self._promote,
            RotationState.PROMOTED: self._after_promotion,
            RotationState.GRACE: lambda: self._end_grace(finish_grace),
            RotationState.NEEDS_ATTENTION: self._resolve,
        }
        first = True
        while not self.rotation.finished:
            if self.rotation.state == RotationState.NEEDS_ATTENTION and not first:
                break
            first = False
            if not self._attempt(steps[self.rotation.state]):
                break
            self.checkpoint(self.rotation.state)
        return self.rotation

    def undo(self) -> Rotation:
        """Roll back a rotation whose new password was not promoted yet."""
        if self.rotation.finished:
            return self.rotation
        if self._stored() == self.pending:
            raise RotationRefused(
                "The new password is already the stored one; finish the rotation instead."
            )
        self._attempt(self._roll_back)
        return self.rotation

    def _attempt(self, step: Callable[[], bool]) -> bool:
        try:
            return step()
        except _Conflict:
            self.rotation.refresh_from_db()
            return False
        except RotationError as exc:
            self._attention(str(exc), self._hint_for(exc))
            return False

    def _hint_for(self, exc: RotationError) -> str:
        if isinstance(exc, ServerUnavailable):
            return RETRY_HINT
        return STORED_HINT if isinstance(exc, LoginRefused) else REFUSED_HINT

    # ------------------------------------------------------------------ steps

    def _apply(self) -> bool:
        if self._pending_is_live():
            return self._move(RotationState.APPLIED, "rotation_applied", already=True)
        if not self._logs_in(self.old):
            return self._attention(
                "Neither the stored password nor the new one logs in, so nothing was changed "
                "on the server.",
                STORED_HINT,
            )
        warnings = self.engine.set_password(self._as(self.old), self.pending)
        self.checkpoint("server-applied")
        return self._move(RotationState.APPLIED, "rotation_applied", warnings=warnings)

    def _verify(self) -> bool:
        if self._logs_in(self.pending):
            return self._move(RotationState.VERIFIED, "rotation_verified")
        return self._attention(
            "The server took the change, but a fresh login with the new password failed.",
            STORED_HINT,
        )

    def _promote(self) -> bool:
        with transaction.atomic():
            self.instance.set_password(self.pending)
            self.instance.save(update_fields=["password_sealed", "updated_at"])
            return self._move(RotationState.PROMOTED, "rotation_promoted")

    def _after_promotion(self) -> bool:
        if not (self.engine.dual_passwords and self._logs_in(self.old)):
            return self._finish(RotationState.DONE, "rotation_done")
        if not self.rotation.grace_seconds:
            return self._retire_old(old_logs_in=True)
        until = self.rotation.grace_until or timezone.now() + timedelta(
            seconds=self.rotation.grace_seconds
        )
        return self._move(
            RotationState.GRACE,
            "rotation_grace",
            fields={"grace_until": until},
            grace_until=until.isoformat(),
        )

    def _end_grace(self, finish_now: bool) -> bool:
        until = self.rotation.grace_until  # set on entering GRACE; unknown: keep the old one
        if not finish_now and (until is None or timezone.now() < until):
            return False
        return self._retire_old(old_logs_in=self._logs_in(self.old))

    def _retire_old(self, *, old_logs_in: bool) -> bool:
        if old_logs_in:
            warnings = self.engine.retire_password(self._as(self.pending), self.old)
            _audit(self.rotation, "rotation_old_revoked", self.request, warnings=warnings)
            self.checkpoint("server-revoked")
        return self._finish(RotationState.DONE, "rotation_done")

    def _resolve(self) -> bool:
        """After a failure, test which password logs in: go on with the new one if it
        does; apply it again if only the old one does; else abandon for a stored one."""
        if self._logs_in(self.pending):
            return self._move(RotationState.VERIFIED, "rotation_verified", resumed=True)
        stored = self._stored()
        if self._logs_in(self.old):
            if stored != self.old:
                return self._undone(note="The new password does not log in; the old one does.")
            return self._move(
                RotationState.CREATED,
                "rotation_resumed",
                note="The new password has not taken effect yet; applying it again.",
            )
        if stored is not None and stored not in (self.old, self.pending) and self._logs_in(stored):
            return self._finish(
                RotationState.UNDONE,
                "rotation_undone",
                note="The password set since then logs in; this rotation was abandoned.",
            )
        return self._attention(
            "Neither the old, the new nor the stored password logs in.", STORED_HINT
        )

    def _roll_back(self) -> bool:
        old_ok = self._logs_in(self.old)
        pending_ok = self._logs_in(self.pending)
        warnings: list[str] = []
        if pending_ok and (self.engine.dual_passwords or not old_ok):
            login = self.old if old_ok else self.pending
            warnings = self.engine.restore_password(self._as(login), self.old, self.pending)
        elif not old_ok:
            return self._attention(
                "Neither the old nor the new password logs in, so there is nothing to undo to.",
                STORED_HINT,
            )
        return self._undone(note="Rolled back on request.", warnings=warnings)

    # -------------------------------------------------------------- recording

    def _pending_is_live(self) -> bool:
        """The new password already works (a run stopped after changing the server)."""
        if not self._logs_in(self.pending):
            return False
        return self.engine.dual_passwords or not self._logs_in(self.old)

    def _as(self, password: str) -> Target:
        return self.target.with_password(password)

    def _logs_in(self, password: str) -> bool:
        return self.engine.logs_in(self._as(password))

    def _stored(self) -> str | None:
        """The instance's stored password; None when it cannot be decrypted (an admin
        sets it again, and the rotation goes on from the old or the new one)."""
        try:
            return open_password(self.instance, Purpose.ROTATION)
        except SecretUnavailable:
            return None

    def _undone(self, **detail: Any) -> bool:
        with transaction.atomic():
            if self._stored() != self.old:
                self.instance.set_password(self.old)
                self.instance.save(update_fields=["password_sealed", "updated_at"])
            return self._finish(RotationState.UNDONE, "rotation_undone", **detail)

    def _finish(self, state: str, action: str, **detail: Any) -> bool:
        wipe = {"pending_sealed": "", "old_sealed": "", "reason": ""}
        return self._move(state, action, fields=wipe, **detail)

    def _attention(self, what: str, hint: str) -> bool:
        reason = redact(f"{what} {hint.format(name=self.instance.name)}", self.old, self.pending)
        self._move(
            RotationState.NEEDS_ATTENTION,
            "rotation_needs_attention",
            fields={"reason": reason},
            outcome="fail",
            reason=reason,
        )
        logger.warning("rotation %s of %s needs attention", self.rotation.uid, self.instance)
        return False

    def _move(
        self,
        state: str,
        action: str,
        *,
        fields: dict[str, Any] | None = None,
        outcome: str = "ok",
        **detail: Any,
    ) -> bool:
        """Compare-and-set the state and record it, in one transaction."""
        changes = {"state": state, "updated_at": timezone.now(), **(fields or {})}
        rotation = self.rotation
        with transaction.atomic():
            moved = Rotation.objects.filter(pk=rotation.pk, state=rotation.state).update(**changes)
            if not moved:
                raise _Conflict
            for name, value in changes.items():
                setattr(rotation, name, value)
            if "warnings" in detail:
                detail["warnings"] = [redact(w, self.old, self.pending) for w in detail["warnings"]]
            _audit(rotation, action, self.request, state=state, outcome=outcome, **detail)
        logger.info("rotation %s of %s: %s", rotation.uid, self.instance.name, state)
        return True


def advance(
    rotation: Rotation,
    *,
    request: HttpRequest | None = None,
    checkpoint: Checkpoint | None = None,
    finish_grace: bool = False,
) -> Rotation:
    machine = Machine(rotation, request=request, checkpoint=checkpoint)
    return machine.run(finish_grace=finish_grace)


def finish_due() -> list[Rotation]:
    """End every grace period that is over (for cron: `rotate_password --finish-due`)."""
    due = Rotation.objects.filter(state=RotationState.GRACE, grace_until__lte=timezone.now())
    return [Machine(rotation).run() for rotation in due.select_related("instance")]
