"""Where a running connection test is found and read: one run per instance at a time.

The process that takes an instance's place on the board runs the test and appends its
events to the run's log; anyone else who asks for a test of that instance meanwhile reads
that log: from the first event, then the new ones as they come. With ``REDIS_URL`` set the
board is in Redis (a key with expiry per instance, a list with expiry per run), so every
app server shares it; otherwise it lives in this process."""

from __future__ import annotations

import functools
import json
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any

import redis
from django.conf import settings

Event = dict[str, Any]  # one line of a test's NDJSON: start, step, done, lost, follow
KEY_PREFIX = "zektor:check-runs:"
# How long a run's events stay readable after its deadline, for followers polling late.
KEEP_SECONDS = 60.0


@dataclass(frozen=True)
class RunInfo:
    """What followers are told about the run they joined."""

    id: str
    key: str  # the instance's place on the board
    started_by: str
    started_at: str  # ISO 8601
    timeout: float
    expires_at: float  # wall-clock seconds: the run is over by then, whatever happened

    def remaining(self) -> float:
        return self.expires_at - time.time()


class Log(ABC):
    """The owner's side of a run: its events, in order, for everyone following it."""

    @abstractmethod
    def publish(self, event: Event) -> None: ...

    @abstractmethod
    def release(self) -> None:
        """Free the instance's place (the events stay readable for ``KEEP_SECONDS``)."""


class Board(ABC):
    @abstractmethod
    def take(self, info: RunInfo) -> Log | None:
        """The new run's log if nobody runs a test of ``info.key`` now, else None."""

    @abstractmethod
    def current(self, key: str) -> RunInfo | None:
        """The run of ``key`` going on now, if any."""

    @abstractmethod
    def read(self, run_id: str, after: int) -> tuple[RunInfo | None, list[Event]]:
        """The run (None once forgotten) and its events from number ``after`` on."""


# ------------------------------------------------------------------ in this process


class _LocalRun(Log):
    def __init__(self, board: LocalBoard, info: RunInfo) -> None:
        self.board, self.info = board, info
        self.events: list[Event] = []

    def publish(self, event: Event) -> None:
        with self.board.lock:
            self.events.append(event)

    def release(self) -> None:
        with self.board.lock:
            if self.board.owners.get(self.info.key) is self:
                del self.board.owners[self.info.key]


class LocalBoard(Board):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.owners: dict[str, _LocalRun] = {}
        self._runs: dict[str, _LocalRun] = {}

    def take(self, info: RunInfo) -> Log | None:
        with self.lock:
            self._forget_old()
            if info.key in self.owners:
                return None
            run = self.owners[info.key] = self._runs[info.id] = _LocalRun(self, info)
            return run

    def current(self, key: str) -> RunInfo | None:
        with self.lock:
            self._forget_old()
            run = self.owners.get(key)
            return run.info if run else None

    def read(self, run_id: str, after: int) -> tuple[RunInfo | None, list[Event]]:
        with self.lock:
            run = self._runs.get(run_id)
            return (run.info, run.events[after:]) if run else (None, [])

    def _forget_old(self) -> None:
        now = time.time()
        for key, run in list(self.owners.items()):
            if run.info.expires_at <= now:  # its owner never released it
                del self.owners[key]
        for run_id, run in list(self._runs.items()):
            if run.info.expires_at + KEEP_SECONDS <= now:
                del self._runs[run_id]


# ------------------------------------------------------------------------- in Redis

# Take the instance's key and describe the run in one step, so that whoever finds the run
# can read it at once.
_TAKE = """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('set', KEYS[2], ARGV[1], 'PX', ARGV[3])
  return 1
end
return 0
"""
# Delete the instance's key only if it still names this run (it may have expired and been
# taken by another run since).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class _RedisLog(Log):
    def __init__(self, client: redis.Redis, info: RunInfo, value: str) -> None:
        self._client, self._info, self._value = client, info, value

    def publish(self, event: Event) -> None:
        events = _events_key(self._info.id)
        pipe = self._client.pipeline(transaction=True)
        pipe.rpush(events, json.dumps(event, ensure_ascii=False))
        pipe.pexpire(events, _ms(self._info.remaining() + KEEP_SECONDS))
        pipe.execute()

    def release(self) -> None:
        self._client.eval(_RELEASE, 1, _owner_key(self._info.key), self._value)


class RedisBoard(Board):
    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)

    def take(self, info: RunInfo) -> Log | None:
        value = json.dumps(asdict(info))
        keys = (_owner_key(info.key), _info_key(info.id))
        ttls = (_ms(info.remaining()), _ms(info.remaining() + KEEP_SECONDS))
        if not self._client.eval(_TAKE, 2, *keys, value, *ttls):
            return None
        return _RedisLog(self._client, info, value)

    def current(self, key: str) -> RunInfo | None:
        return _info(self._client.get(_owner_key(key)))

    def read(self, run_id: str, after: int) -> tuple[RunInfo | None, list[Event]]:
        pipe = self._client.pipeline(transaction=False)
        pipe.get(_info_key(run_id))
        pipe.lrange(_events_key(run_id), after, -1)
        value, events = pipe.execute()
        return _info(value), [json.loads(event) for event in events]


def _info(value: bytes | str | None) -> RunInfo | None:
    return RunInfo(**json.loads(value)) if value is not None else None


def _owner_key(key: str) -> str:
    return f"{KEY_PREFIX}owner:{key}"


def _info_key(run_id: str) -> str:
    return f"{KEY_PREFIX}info:{run_id}"


def _events_key(run_id: str) -> str:
    return f"{KEY_PREFIX}events:{run_id}"


_LOCAL = LocalBoard()


@functools.cache
def _redis_board(url: str) -> RedisBoard:
    return RedisBoard(url)


def active() -> Board:
    """Redis when ``REDIS_URL`` is set (shared by every app server), else this process."""
    url = settings.ZEKTOR_REDIS_URL
    return _redis_board(url) if url else _LOCAL
