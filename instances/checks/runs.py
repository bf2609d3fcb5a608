"""Connection tests asked for from the web and the API: one run per instance, a bound per
process (which tests of the instance form's unsaved values take a slot of too).

A run streams its steps to whoever started it and holds that request's thread until it
ends, so a process runs at most ``ZEKTOR_CHECK_CONCURRENCY`` of them; one more is refused
at once (``Busy``, with the seconds until a slot frees) rather than queued, so pages always
find a free thread. A test asked for while another of the same instance runs (here or on
another app server) joins it instead: it gets the events so far at once, then polls for
the next ones (``follow``), holding no thread in between, however many join. A run whose
listener went away still finishes within its deadline and is stored once.
``check_instances`` runs its checks directly, with its own concurrency, outside this bound."""

from __future__ import annotations

import itertools
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest
from django.utils import timezone

from instances.checks import board as boards
from instances.checks.report import STEP_NAMES
from instances.checks.runner import GRACE_SECONDS, ConnectionCheck
from instances.checks.service import InstanceCheck
from instances.models import Instance

# Beyond the test's own deadline: each step's grace, and storing the run.
MARGIN_SECONDS = len(STEP_NAMES) * GRACE_SECONDS + 3.0
# How often a follower asks for new events: a short request each, no thread held between.
POLL = {"poll_ms": 2000}
LOST_MESSAGE = (
    "The test this page joined stopped without a result (its app server went away). "
    "Run the test again."
)


class Busy(Exception):
    """This process runs as many tests as it may; ``retry_after`` seconds until one ends."""

    def __init__(self, running: int, retry_after: int) -> None:
        self.running, self.retry_after = running, retry_after
        super().__init__(
            f"{running} connection test{'s' if running != 1 else ''} "
            f"{'are' if running != 1 else 'is'} running on this server; try again in "
            f"{retry_after} second{'s' if retry_after != 1 else ''}."
        )


class Slots:
    """At most ``limit`` runs at once in this process. A slot is expected back within
    ``seconds`` (what ``Busy.retry_after`` counts on); one still held ``MARGIN_SECONDS``
    later (a response never closed) frees itself, so the bound cannot leak away."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[int, float] = {}  # slot number → monotonic time it is expected back
        self._numbers = itertools.count()

    def take(self, limit: int, seconds: float) -> Slot:
        now = time.monotonic()
        with self._lock:
            self._held = {n: at for n, at in self._held.items() if at + MARGIN_SECONDS > now}
            if len(self._held) >= limit:
                wait = min(self._held.values()) - now
                raise Busy(len(self._held), max(1, math.ceil(wait)))
            number = next(self._numbers)
            self._held[number] = now + seconds
        return Slot(self, number)

    def give_back(self, number: int) -> None:
        with self._lock:
            self._held.pop(number, None)

    @property
    def in_use(self) -> int:
        with self._lock:
            return len(self._held)


class Slot:
    def __init__(self, slots: Slots, number: int) -> None:
        self._slots, self._number = slots, number

    def release(self) -> None:
        self._slots.give_back(self._number)


SLOTS = Slots()


def take_slot(timeout: float) -> Slot:
    """A slot of this process's bound for a run of ``timeout`` seconds, or ``Busy``."""
    return SLOTS.take(settings.ZEKTOR_CHECK_CONCURRENCY, timeout)


def _start_event(info: boards.RunInfo, *, joined: bool) -> boards.Event:
    return {
        "event": "start",
        "steps": list(STEP_NAMES),
        "timeout": info.timeout,
        "run": info.id,
        "joined": joined,
        "started_by": info.started_by,
        "started_at": info.started_at,
    }


class OwnedRun:
    """A test run in this request's thread: iterate it for its events (``start``, each
    ``step``, then ``done`` with the report and the stored run's id), each published for
    joiners as it happens. ``close()`` (the web server's, when the browser went away too)
    finishes the run within its deadline, stores it, and frees the slot."""

    def __init__(
        self, info: boards.RunInfo, slot: Slot, check: InstanceCheck, log: boards.Log
    ) -> None:
        self.info = info
        self._slot, self._check, self._log = slot, check, log
        self._produced = self._produce()

    def __iter__(self) -> Iterator[boards.Event]:
        yield _start_event(self.info, joined=False)
        # Not ``yield from``: a listener that stops must not stop the run for the others.
        for event in self._produced:  # noqa: UP028
            yield event

    def _produce(self) -> Iterator[boards.Event]:
        last: boards.Event = {"event": "lost", "message": LOST_MESSAGE}
        try:
            for step in self._check.steps():  # stores the run when the steps end
                event = {"event": "step", "step": step.as_dict()}
                self._log.publish(event)
                yield event
            stored = self._check.stored
            last = {
                "event": "done",
                "report": self._check.report.as_dict(),
                "check_run": stored.pk if stored else None,
            }
        finally:
            self._log.publish(last)  # followers stop waiting, whatever happened
            self._log.release()
        yield last

    def close(self) -> None:
        try:
            for _ in self._produced:  # nobody listens any more: finish within the deadline
                pass
        finally:
            self._slot.release()

    def report(self) -> dict[str, Any]:
        """Run to the end here (for a caller that wants only the result): the report."""
        try:
            *_, last = self
        finally:
            self.close()
        return last["report"]


class DraftRun:
    """A test of unsaved values (the instance form's): no run of a stored instance to join,
    nothing stored, but a slot of the same bound. Its events are those of ``OwnedRun``
    without the run's id; the slot goes back when they end or the response closes."""

    def __init__(self, check: ConnectionCheck, slot: Slot) -> None:
        self._check, self._slot = check, slot

    def __iter__(self) -> Iterator[boards.Event]:
        try:
            yield {"event": "start", "steps": list(STEP_NAMES), "timeout": self._check.timeout}
            for step in self._check.run():
                yield {"event": "step", "step": step.as_dict()}
            yield {"event": "done", "report": self._check.report.as_dict()}
        finally:
            self._slot.release()

    def close(self) -> None:
        self._slot.release()


def begin_draft(make_check: Callable[[], ConnectionCheck]) -> DraftRun:
    """A test of unsaved values in a slot of this process's bound: ``Busy`` (before
    ``make_check`` opens any password) when it runs its maximum."""
    slot = take_slot(float(settings.ZEKTOR_CHECK_TIMEOUT))
    try:
        return DraftRun(make_check(), slot)
    except BaseException:
        slot.release()
        raise


def follow(instance: Instance, run_id: str, after: int = 0) -> list[boards.Event]:
    """The events of a run of ``instance`` from number ``after`` on, at once: a follower
    holds no thread while it waits. Unless the run ended they end with ``follow``, which
    says from which number to ask again, and when."""
    info, events = boards.active().read(run_id, after)
    if info is None or info.key != _key(instance):
        return [{"event": "lost", "message": LOST_MESSAGE}]
    if any(event["event"] in ("done", "lost") for event in events):
        return events
    if info.remaining() <= 0:  # its app server went away before storing a result
        return [*events, {"event": "lost", "message": LOST_MESSAGE}]
    return [*events, {"event": "follow", "run": run_id, "after": after + len(events), **POLL}]


@dataclass(frozen=True)
class Joined:
    """Someone else's run of the instance: a ``start`` that says whose, then its events so
    far as ``follow`` returns them."""

    events: list[boards.Event]
    info: boards.RunInfo

    def __str__(self) -> str:
        by = f" by {self.info.started_by}" if self.info.started_by else ""
        return (
            f"A connection test of this instance started{by} at {self.info.started_at} is "
            f"running; it ends within {self.retry_after} seconds and is stored."
        )

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.info.remaining()))


def begin(
    instance: Instance,
    *,
    actor: User | None,
    request: HttpRequest | None = None,
    actor_name: str = "",
) -> OwnedRun | Joined:
    """Start a test of ``instance`` (an ``OwnedRun`` to stream), or join the one running
    now (``Joined``). Raises ``Busy`` when this process runs its maximum, ``SecretUnavailable``
    when the password cannot be opened. ``actor_name`` names a machine actor (an API
    token) when there is no ``actor``."""
    board, key = boards.active(), _key(instance)
    while True:  # the run found may end between take() and current(): then take again
        running = board.current(key)
        if running is not None:
            events = [_start_event(running, joined=True), *follow(instance, running.id)]
            return Joined(events, running)
        timeout = float(settings.ZEKTOR_CHECK_TIMEOUT)
        slot = take_slot(timeout)
        try:
            owned = _own(board, key, instance, (actor, actor_name), request, slot, timeout)
        except BaseException:
            slot.release()
            raise
        if owned is not None:
            return owned
        slot.release()


def _own(
    board: boards.Board,
    key: str,
    instance: Instance,
    actors: tuple[User | None, str],
    request: HttpRequest | None,
    slot: Slot,
    timeout: float,
) -> OwnedRun | None:
    actor, actor_name = actors
    info = boards.RunInfo(
        id=str(uuid.uuid4()),
        key=key,
        started_by=actor.get_username() if actor else actor_name,
        started_at=timezone.now().isoformat(timespec="seconds"),
        timeout=timeout,
        expires_at=time.time() + timeout + MARGIN_SECONDS,
    )
    log = board.take(info)
    if log is None:
        return None  # someone else started one just now
    try:
        check = InstanceCheck(
            instance, actor=actor, request=request, actor_name=actor_name, timeout=timeout
        )
    except BaseException:
        log.release()
        raise
    return OwnedRun(info, slot, check, log)


def _key(instance: Instance) -> str:
    return f"instance:{instance.pk}"
