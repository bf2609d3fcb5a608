"""Connection tests asked for from the web: one run per instance, a bound per process.

A test asked for while another of the same instance runs (here or on another app server)
joins it and streams the same events instead of starting a second one. Every streamed
test, run or joined, holds a request thread until it ends, so a process streams at most
``ZEKTOR_CHECK_CONCURRENCY`` of them; one more is refused at once (``Busy``, with the
seconds until a slot frees) rather than queued, so pages always find a free thread. A run
whose listeners all went away still finishes within its deadline and is stored once.
``check_instances`` runs its checks directly, with its own concurrency, outside this bound."""

from __future__ import annotations

import itertools
import math
import threading
import time
import uuid
from collections.abc import Iterator

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from instances.checks import board as boards
from instances.checks.engine import GRACE_SECONDS
from instances.checks.report import STEP_NAMES
from instances.checks.service import InstanceCheck
from instances.models import Instance

# Beyond the test's own deadline: each step's grace, and storing the run.
MARGIN_SECONDS = len(STEP_NAMES) * GRACE_SECONDS + 3.0
LOST_MESSAGE = (
    "The test this page joined stopped without a result (its app server went away). "
    "Run the test again."
)


class Busy(Exception):
    """This process streams as many tests as it may; ``retry_after`` seconds until one ends."""

    def __init__(self, running: int, retry_after: int) -> None:
        self.running, self.retry_after = running, retry_after
        super().__init__(
            f"{running} connection test{'s' if running != 1 else ''} "
            f"{'are' if running != 1 else 'is'} running on this server; try again in "
            f"{retry_after} second{'s' if retry_after != 1 else ''}."
        )


class Slots:
    """At most ``limit`` streams at once in this process. A slot is expected back within
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


class TestStream:
    """The events one listener receives: ``start``, each ``step``, then ``done`` (with the
    report and the stored run's id) or, for a joined run that vanished, ``lost``. Iterate
    it; the web server's ``close()`` ends it (an owned run still finishes first)."""

    def __init__(self, info: boards.RunInfo, slot: Slot, *, joined: bool) -> None:
        self.info, self.joined = info, joined
        self._slot = slot

    def start_event(self) -> dict:
        return {
            "event": "start",
            "steps": list(STEP_NAMES),
            "timeout": self.info.timeout,
            "run": self.info.id,
            "joined": self.joined,
            "started_by": self.info.started_by,
            "started_at": self.info.started_at,
        }

    def __iter__(self) -> Iterator[dict]:
        yield self.start_event()
        yield from self._events()

    def _events(self) -> Iterator[dict]:
        raise NotImplementedError

    def close(self) -> None:
        self._slot.release()


class _OwnedStream(TestStream):
    """Runs the test in this thread, publishing each event for joiners as it goes."""

    def __init__(
        self, info: boards.RunInfo, slot: Slot, check: InstanceCheck, log: boards.Log
    ) -> None:
        super().__init__(info, slot, joined=False)
        self._check, self._log = check, log
        self._produced = self._produce()

    def _events(self) -> Iterator[dict]:
        # Not ``yield from``: a listener that stops must not stop the run for the others.
        for event in self._produced:  # noqa: UP028
            yield event

    def _produce(self) -> Iterator[dict]:
        last: dict = {"event": "lost", "message": LOST_MESSAGE}
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
            self._log.publish(last)  # joiners stop waiting, whatever happened
            self._log.release()
        yield last

    def close(self) -> None:
        try:
            for _ in self._produced:  # nobody listens any more: finish within the deadline
                pass
        finally:
            super().close()


class _JoinedStream(TestStream):
    def __init__(self, slot: Slot, feed: boards.Feed) -> None:
        super().__init__(feed.info, slot, joined=True)
        self._feed = feed

    def _events(self) -> Iterator[dict]:
        for event in self._feed.events():
            yield event
            if boards.is_last(event):
                return
        yield {"event": "lost", "message": LOST_MESSAGE}

    def close(self) -> None:
        try:
            self._feed.close()
        finally:
            super().close()


def begin(instance: Instance, *, actor, request: HttpRequest | None = None) -> TestStream:
    """Start a test of ``instance`` or join the one running now. Raises ``Busy`` when this
    process streams its maximum, ``DecryptionError`` when the password cannot be opened."""
    timeout = float(settings.ZEKTOR_CHECK_TIMEOUT)
    slot = SLOTS.take(settings.ZEKTOR_CHECK_CONCURRENCY, timeout)
    try:
        return _own_or_join(instance, actor, request, slot, timeout)
    except BaseException:
        slot.release()
        raise


def _own_or_join(
    instance: Instance, actor, request: HttpRequest | None, slot: Slot, timeout: float
) -> TestStream:
    board, key = boards.current(), f"instance:{instance.pk}"
    while True:  # the run found may end between take() and join(): then take again
        info = boards.RunInfo(
            id=uuid.uuid4().hex,
            started_by=actor.get_username() if actor else "",
            started_at=timezone.now().isoformat(timespec="seconds"),
            timeout=timeout,
            expires_at=time.time() + timeout + MARGIN_SECONDS,
        )
        log = board.take(key, info)
        if log is not None:
            try:
                check = InstanceCheck(instance, actor=actor, request=request, timeout=timeout)
            except BaseException:
                log.release()
                raise
            return _OwnedStream(info, slot, check, log)
        feed = board.join(key)
        if feed is not None:
            return _JoinedStream(slot, feed)
