"""Load benchmark: does the portal hold while many people press Test connection during an
outage? Runs the portal under gunicorn as the Dockerfile does, on the machine's PostgreSQL
and Redis, against real TLS servers and tarpits (see load_stack.py), with signed-in users
over real HTTP, in four scenarios of ``--seconds`` each:

1. browse only: 10 members browsing (list, Settings, Connection test and Activity tabs);
2. the same 10 browsing while 40 members test 5 dead (tarpit) instances again and again,
   one in five closing the tab during the test;
3. the same 10 browsing while 40 members test 5 healthy instances;
4. 200 mixed clients, one request in ten a test (half of them on dead instances).

No think time for browsers; a tester presses again a second after a result, or after the
Retry-After it was told. It prints page p50/p95, errors, tests started / joined / refused
/ completed, and the goal lines: page p95 during the outage at most 1.5x the page p95 of
browsing alone; zero 5xx; every test started stored exactly once. Exit 1 if one is missed.

    .venv/bin/python bench/load.py [--seconds 20] [--database NAME] [--redis URL]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import re
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import load_stack

from tests.portal_http import PortalUser

USER_PASSWORD = "load-bench-password-0123"
# A client that meets one of these counts an error, reconnects and goes on.
CLIENT_ERRORS = (OSError, http.client.HTTPException)
OUTAGE_GOAL = 1.5
HANG_UP_SHARE = 0.2
TEST_SHARE = 0.1


@dataclass
class Tally:
    """What the clients of one scenario saw; every method may be called from any thread."""

    pages: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    tests: Counter[str] = field(default_factory=Counter)
    owned: set[str] = field(default_factory=set)
    stored_as: defaultdict[str, set] = field(default_factory=lambda: defaultdict(set))
    stored_rows: set[int] = field(default_factory=set)  # CheckRun rows the scenario added
    seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def page(self, seconds: float, status: int) -> None:
        with self._lock:
            self.statuses[status] += 1
            if status in (200, 302):
                self.pages.append(seconds)
            else:
                self.errors[f"page HTTP {status}"] += 1

    def test(self, what: str, status: int | None = None) -> None:
        with self._lock:
            self.tests[what] += 1
            if status is not None:
                self.statuses[status] += 1

    def status(self, status: int) -> None:
        with self._lock:
            self.statuses[status] += 1

    def error(self, what: str) -> None:
        with self._lock:
            self.errors[what] += 1

    def started(self, run_id: str) -> None:
        with self._lock:
            self.owned.add(run_id)

    def stored(self, run_id: str, check_run: int | None) -> None:
        """A listener (owner or joiner) was told the run is stored as ``check_run``."""
        with self._lock:
            self.stored_as[run_id].add(check_run)


@dataclass
class Portal:
    users: list[PortalUser]
    pages: list[str]
    dead: list[str]
    healthy: list[str]


def populate(stack: load_stack.Stack, users: int) -> tuple[list[str], list[str], list[str]]:
    """Team Load: ``users`` members, 5 dead, 5 healthy and 10 more instances."""
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User

    from instances.models import Membership, Role, Team
    from tests.base import instance_on, make_instance

    team = Team.objects.create(name="Load")
    password = make_password(USER_PASSWORD)  # hashed once: same password for everyone
    for number in range(users):
        user = User.objects.create(username=f"member{number:03d}", password=password)
        Membership.objects.create(user=user, team=team, role=Role.MEMBER)
    dead = [
        instance_on(stack.pg, team, f"dead-{n}", port=tarpit.port).name
        for n, tarpit in enumerate(stack.tarpits)
    ]
    healthy = [
        instance_on(stack.pg if n % 2 else stack.valkey, team, f"healthy-{n}").name
        for n in range(5)
    ]
    others = [make_instance(team, f"app-{n}", tier="pro").name for n in range(10)]
    return dead, healthy, [*dead, *healthy, *others]


def sign_in(url: str, count: int) -> list[PortalUser]:
    def one(number: int) -> PortalUser:
        user = PortalUser(url)
        user.login(f"member{number:03d}", USER_PASSWORD)
        return user

    with ThreadPoolExecutor(max_workers=6) as pool:
        return list(pool.map(one, range(count)))


def page_paths(names: list[str]) -> list[str]:
    paths = ["/"]
    for name in names:
        paths += [f"/instances/{name}/", f"/instances/{name}/test/", f"/instances/{name}/activity/"]
    return paths


# ------------------------------------------------------------------------- clients


def browse_once(user: PortalUser, portal: Portal, tally: Tally) -> float:
    began = time.perf_counter()
    try:
        answer = user.get(random.choice(portal.pages))
    except CLIENT_ERRORS as exc:
        tally.error(f"page {type(exc).__name__}")
        user.close()
        return 0.5
    tally.page(time.perf_counter() - began, answer.status)
    return 0.0


def test_once(user: PortalUser, name: str, tally: Tally, hang_up: float = 0.0) -> float:
    """Press Test connection once; the seconds to wait before pressing again."""
    try:
        response = user.stream(f"/instances/{name}/test")
    except CLIENT_ERRORS as exc:
        tally.error(f"test {type(exc).__name__}")
        user.close()
        return 1.0
    if response.status == 429:
        retry_after = response.headers.get("Retry-After")
        tally.test("refused" if retry_after else "rate-limited", 429)
        return float(retry_after or 10)
    if response.status != 200:
        tally.test(f"HTTP {response.status}", response.status)
        tally.error(f"test HTTP {response.status}")
        return 1.0
    tally.status(200)
    try:
        return _follow(response, user, tally, random.random() < hang_up)
    except CLIENT_ERRORS as exc:
        tally.error(f"test stream {type(exc).__name__}")
        user.close()
        return 1.0


def _follow(response, user: PortalUser, tally: Tally, hang_up: bool) -> float:
    """Read a test to its end: the owner's stream, or a joined run's answers and polls."""
    events: Iterator[dict] = response.events()
    run_id = ""
    while True:
        follow = None
        for event in events:
            kind = event["event"]
            if kind == "start":
                run_id = event["run"]
                tally.test("joined" if event["joined"] else "started")
                if not event["joined"]:
                    tally.started(run_id)
                    if hang_up:  # the tab is closed while the test runs
                        response.hang_up()
                        tally.test("hung up")
                        return 1.0
            elif kind == "done":
                tally.test("completed")
                tally.stored(run_id, event["check_run"])
            elif kind == "lost":
                tally.test("lost")
            elif kind == "follow":
                follow = event
        if follow is None:
            return 1.0
        time.sleep(follow["poll_ms"] / 1000)
        answer = user.get(follow["url"])
        tally.test("polls", answer.status)
        events = (json.loads(line) for line in answer.text.splitlines())


def loop(action: Callable[[], float], stop: threading.Event) -> None:
    while not stop.is_set():
        pause = action()
        if pause:
            stop.wait(pause)


# ----------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Scenario:
    name: str
    browsers: int = 0
    testers: int = 0
    targets: str = ""  # "dead" or "healthy"
    hang_up: float = 0.0
    mixed: int = 0


SCENARIOS = (
    Scenario("browse only (10)", browsers=10),
    Scenario("browse (10) + 40 testing dead", browsers=10, testers=40, targets="dead", hang_up=0.2),
    Scenario("browse (10) + 40 testing healthy", browsers=10, testers=40, targets="healthy"),
    Scenario("200 mixed clients", mixed=200),
)


def clients_for(scenario: Scenario, portal: Portal, tally: Tally) -> list[Callable[[], float]]:
    def session(number: int) -> PortalUser:
        """Its own connection, signed in as one of the users (shared round robin)."""
        user = portal.users[number % len(portal.users)]
        return PortalUser(user.base_url, cookies=dict(user.cookies))

    targets = portal.dead if scenario.targets == "dead" else portal.healthy

    def tester(user: PortalUser) -> Callable[[], float]:
        return lambda: test_once(user, random.choice(targets), tally, scenario.hang_up)

    def browser(user: PortalUser) -> Callable[[], float]:
        return lambda: browse_once(user, portal, tally)

    def mixed(user: PortalUser) -> Callable[[], float]:
        return lambda: mixed_once(user, portal, tally)

    kinds = [browser] * scenario.browsers + [tester] * scenario.testers + [mixed] * scenario.mixed
    actions = [kind(session(n)) for n, kind in enumerate(kinds)]
    return actions


def mixed_once(user: PortalUser, portal: Portal, tally: Tally) -> float:
    if random.random() >= TEST_SHARE:
        return browse_once(user, portal, tally)
    name = random.choice(portal.dead if random.random() < 0.5 else portal.healthy)
    test_once(user, name, tally)
    return 0.0


def run_scenario(scenario: Scenario, portal: Portal, seconds: float, redis_url: str) -> Tally:
    from instances.models import CheckRun

    load_stack.forget_portal_keys(redis_url, "zektor:*:rl:*")  # fresh rate-limit windows
    tally, stop = Tally(), threading.Event()
    before = CheckRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    threads = [
        threading.Thread(target=loop, args=(action, stop), daemon=True)
        for action in clients_for(scenario, portal, tally)
    ]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    tally.seconds = time.perf_counter() - began
    for thread in threads:
        thread.join(timeout=60)
    tally.stored_rows = wait_stored(before, len(tally.owned))
    return tally


def wait_stored(after_pk: int, expected: int, patience: float = 20.0) -> set[int]:
    """The runs stored since ``after_pk``, once tests whose tab was closed have ended."""
    from instances.models import CheckRun

    deadline = time.monotonic() + patience
    while True:
        stored = set(CheckRun.objects.filter(pk__gt=after_pk).values_list("pk", flat=True))
        if len(stored) >= expected or time.monotonic() > deadline:
            return stored
        time.sleep(0.2)


# -------------------------------------------------------------------------- report


def percentile(samples: list[float], share: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


TEST_COLUMNS = (
    "started",
    "joined",
    "refused",
    "rate-limited",
    "completed",
    "hung up",
    "lost",
    "polls",
)


def print_table(results: list[tuple[Scenario, Tally]]) -> None:
    head = f"{'scenario':<34}{'pages':>7}{'p50 ms':>8}{'p95 ms':>8}{'pages/s':>8}{'errors':>7}"
    print(f"\n{head}{'5xx':>5} | " + " ".join(f"{c:>9}" for c in TEST_COLUMNS))
    for scenario, tally in results:
        pages = tally.pages
        fivexx = sum(n for status, n in tally.statuses.items() if status >= 500)
        print(
            f"{scenario.name:<34}{len(pages):>7}{percentile(pages, 0.5) * 1000:>8.0f}"
            f"{percentile(pages, 0.95) * 1000:>8.0f}{len(pages) / tally.seconds:>8.1f}"
            f"{sum(tally.errors.values()):>7}{fivexx:>5} | "
            + " ".join(f"{tally.tests[c]:>9}" for c in TEST_COLUMNS)
        )
        for what, count in sorted(tally.errors.items()):
            print(f"    error: {what} x{count}")


def stored_once(tally: Tally) -> tuple[int, int, int]:
    """(runs started, rows stored, runs told of no row, of several, or of one not stored)."""
    wrong = sum(
        1
        for reported in tally.stored_as.values()
        if len(reported) != 1 or not reported <= tally.stored_rows
    )
    return len(tally.owned), len(tally.stored_rows), wrong


def access_log_5xx(path: Path) -> int:
    status = re.compile(r'" (\d{3}) ')
    return sum(
        1
        for line in path.read_text(errors="replace").splitlines()
        if (found := status.search(line)) and found.group(1).startswith("5")
    )


def print_goals(results: list[tuple[Scenario, Tally]], access_log: Path) -> bool:
    browse_p95 = percentile(results[0][1].pages, 0.95)
    outage_p95 = percentile(results[1][1].pages, 0.95)
    ratio = outage_p95 / browse_p95
    client_5xx = sum(n for _, t in results for s, n in t.statuses.items() if s >= 500)
    log_5xx = access_log_5xx(access_log)
    counts = [stored_once(tally) for _, tally in results]
    started, stored = sum(c[0] for c in counts), sum(c[1] for c in counts)
    twice = sum(c[2] for c in counts)
    goals = [
        (
            f"page p95 during the outage <= {OUTAGE_GOAL}x browsing alone: "
            f"{outage_p95 * 1000:.0f} ms vs {browse_p95 * 1000:.0f} ms = {ratio:.2f}x",
            ratio <= OUTAGE_GOAL,
        ),
        (
            f"zero 5xx: {client_5xx} seen by clients, {log_5xx} in gunicorn's access log",
            client_5xx == 0 and log_5xx == 0,
        ),
        (
            f"every test started stored exactly once: {started} started, {stored} stored, "
            f"{twice} reported under no row, several rows or a row not stored",
            started == stored and twice == 0,
        ),
    ]
    print()
    for text, met in goals:
        print(f"goal: {text} -- {'met' if met else 'MISSED'}")
    return all(met for _, met in goals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per scenario")
    parser.add_argument("--database", default=f"zektor_bench_load_{os.getpid()}")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14", help="REDIS_URL")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="zektor-load-"))
    with load_stack.running(args.database, args.redis, logs) as stack:
        dead, healthy, names = populate(stack, users=50)
        portal = Portal(sign_in(stack.url, 50), page_paths(names), dead, healthy)
        print(f"portal {stack.url} ({' '.join(load_stack.gunicorn_command(0)[1:])})")
        results = []
        for scenario in SCENARIOS:
            print(f"running: {scenario.name} for {args.seconds:g} s", flush=True)
            results.append((scenario, run_scenario(scenario, portal, args.seconds, args.redis)))
        print_table(results)
        met = print_goals(results, stack.access_log)
    print(f"\ngunicorn logs: {logs}")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
