"""Where a running connection test is found and followed: one run per instance at a time.

The process that takes an instance's slot on the board runs the test and publishes its
events; everyone else who asks for a test of that instance meanwhile follows those events,
from the first one, then live. With ``REDIS_URL`` set the board is in Redis (a key with
expiry per instance, a list of events per run and a pub/sub channel that says "more"), so
every app server shares it; otherwise it lives in this process."""

from __future__ import annotations

import functools
import json
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import redis
from django.conf import settings

KEY_PREFIX = "zektor:check-runs:"
# How long a follower waits for the next event before it checks its deadline again.
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class RunInfo:
    """What followers are told about the run they joined."""

    id: str
    started_by: str
    started_at: str  # ISO 8601
    timeout: float
    expires_at: float  # wall-clock seconds: past this, nobody waits for the run any more

    def remaining(self) -> float:
        return self.expires_at - time.time()


class Log(ABC):
    """The owner's side of a run: its events, in order, for everyone following it."""

    @abstractmethod
    def publish(self, event: dict) -> None: ...

    @abstractmethod
    def release(self) -> None:
        """Free the instance's slot (the events stay readable until the run expires)."""


class Feed(ABC):
    """A follower's side: every event of the run so far, then each new one, until the run
    publishes ``done`` or its time is up."""

    def __init__(self, info: RunInfo) -> None:
        self.info = info

    @abstractmethod
    def events(self) -> Iterator[dict]: ...

    def close(self) -> None:  # noqa: B027 (followers with nothing to close keep the default)
        pass


class Board(ABC):
    @abstractmethod
    def take(self, key: str, info: RunInfo) -> Log | None:
        """The new run's log if nobody runs a test of ``key`` now, else None."""

    @abstractmethod
    def join(self, key: str) -> Feed | None:
        """The feed of the run of ``key`` going on now, or None if there is none."""


def is_last(event: dict) -> bool:
    return event.get("event") in ("done", "lost")


# ------------------------------------------------------------------ in this process


class _LocalRun(Log, Feed):
    def __init__(self, board: LocalBoard, key: str, info: RunInfo) -> None:
        Feed.__init__(self, info)
        self._board, self._key = board, key
        self._events: list[dict] = []
        self._changed = threading.Condition()

    def publish(self, event: dict) -> None:
        with self._changed:
            self._events.append(event)
            self._changed.notify_all()

    def release(self) -> None:
        self._board.forget(self._key, self)

    def events(self) -> Iterator[dict]:
        seen = 0
        while True:
            with self._changed:
                if len(self._events) == seen:
                    self._changed.wait(timeout=max(0.0, self.info.remaining()))
                new = self._events[seen:]
            if not new:
                if self.info.remaining() <= 0:
                    return  # the run's time is up
                continue
            seen += len(new)
            for event in new:
                yield event
                if is_last(event):
                    return


class LocalBoard(Board):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, _LocalRun] = {}

    def take(self, key: str, info: RunInfo) -> Log | None:
        with self._lock:
            if self._current(key) is not None:
                return None
            run = self._runs[key] = _LocalRun(self, key, info)
            return run

    def join(self, key: str) -> Feed | None:
        with self._lock:
            return self._current(key)

    def forget(self, key: str, run: _LocalRun) -> None:
        with self._lock:
            if self._runs.get(key) is run:
                del self._runs[key]

    def _current(self, key: str) -> _LocalRun | None:
        run = self._runs.get(key)
        if run is not None and run.info.remaining() <= 0:  # its owner never released it
            del self._runs[key]
            return None
        return run


# ------------------------------------------------------------------------- in Redis

# Delete the instance's key only if it still names this run (it may have expired and been
# taken by another run since).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"


class _RedisLog(Log):
    def __init__(self, client: redis.Redis, key: str, info: RunInfo, value: str) -> None:
        self._client, self._key, self._info, self._value = client, key, info, value
        self._events, self._channel = _events_key(info.id), _channel(info.id)

    def publish(self, event: dict) -> None:
        ttl_ms = max(1, round(self._info.remaining() * 1000))
        pipe = self._client.pipeline(transaction=True)
        pipe.rpush(self._events, json.dumps(event, ensure_ascii=False))
        pipe.pexpire(self._events, ttl_ms)
        pipe.publish(self._channel, b"1")
        pipe.execute()

    def release(self) -> None:
        self._client.eval(_RELEASE, 1, self._key, self._value)


class _RedisFeed(Feed):
    def __init__(self, client: redis.Redis, info: RunInfo) -> None:
        super().__init__(info)
        self._client = client
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)

    def events(self) -> Iterator[dict]:
        # Subscribe before reading the list, so nothing published in between is missed;
        # the message only says "more", the events themselves are read from the list.
        self._pubsub.subscribe(_channel(self.info.id))
        seen = 0
        while True:
            new = self._client.lrange(_events_key(self.info.id), seen, -1)
            for raw in new:
                event = json.loads(raw)
                yield event
                if is_last(event):
                    return
            seen += len(new)
            remaining = self.info.remaining()
            if remaining <= 0:
                return
            self._pubsub.get_message(timeout=min(POLL_SECONDS, remaining))

    def close(self) -> None:
        self._pubsub.close()


class RedisBoard(Board):
    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)

    def take(self, key: str, info: RunInfo) -> Log | None:
        value = json.dumps(asdict(info))
        ttl_ms = max(1, round(info.remaining() * 1000))
        if not self._client.set(KEY_PREFIX + key, value, nx=True, px=ttl_ms):
            return None
        return _RedisLog(self._client, KEY_PREFIX + key, info, value)

    def join(self, key: str) -> Feed | None:
        value = self._client.get(KEY_PREFIX + key)
        if value is None:
            return None
        return _RedisFeed(self._client, RunInfo(**json.loads(value)))


def _events_key(run_id: str) -> str:
    return f"{KEY_PREFIX}events:{run_id}"


def _channel(run_id: str) -> str:
    return f"{KEY_PREFIX}more:{run_id}"


_LOCAL = LocalBoard()


@functools.cache
def _redis_board(url: str) -> RedisBoard:
    return RedisBoard(url)


def current() -> Board:
    """Redis when ``REDIS_URL`` is set (shared by every app server), else this process."""
    url = settings.ZEKTOR_REDIS_URL
    return _redis_board(url) if url else _LOCAL
