"""Server time of the Settings tab and the instance list, next to Django admin, on 1,000 instances.

    .venv/bin/python bench/settings_page.py [--instances 1000] [--runs 30]

Uses a throwaway SQLite database in a temporary directory and the test settings. Every page
is requested in-process with django.test.Client (the full middleware stack, no network) as a
superuser who is admin of the team; the time is the median of --runs requests after a warm-up,
the pages taking turns.
The Settings tab and the admin change view rotate through different instances on every run,
so neither profits from a cache warmed by that instance ("cold"); the Settings tab is also
measured on one instance again and again ("warm").
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
DATA_DIR = tempfile.mkdtemp(prefix="zektor-bench-")
os.environ["DATABASE_URL"] = f"sqlite:///{DATA_DIR}/bench.sqlite3"

import django  # noqa: E402

django.setup()

from django.contrib import admin  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from instances.models import Instance, Membership, Role, Team  # noqa: E402
from instances.tiers import TIERS  # noqa: E402

CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBbench\n-----END CERTIFICATE-----\n"
WARMUP = 3


def populate(count: int) -> User:
    call_command("migrate", verbosity=0)
    team = Team.objects.create(name="Bench")
    user = User.objects.create_superuser("bench", password="bench-password-123")
    Membership.objects.create(user=user, team=team, role=Role.ADMIN)
    instances = []
    for n in range(count):
        postgresql = n % 2 == 0
        instance = Instance(
            team=team,
            name=f"bench-{n:04d}",
            engine="postgresql" if postgresql else "valkey",
            tier=TIERS[n % len(TIERS)],
            host=f"bench-{n:04d}.db.zektor.example",
            port=5432 if postgresql else 6379,
            username="app" if postgresql else "default",
            database="app" if postgresql else "",
            ca_cert=CA_PEM if n % 3 == 0 else "",
        )
        instance.set_password(f"bench-password-{n}")
        instances.append(instance)
    Instance.objects.bulk_create(instances)
    return user


def measure(client: Client, pages: dict[str, Callable[[], str]], runs: int) -> dict:
    """Page -> (median ms, queries of its last request). Pages take turns, run by run, so
    load from elsewhere on the machine hits all of them alike."""
    for urls in pages.values():
        for _ in range(WARMUP):
            client.get(urls())
    timings: dict[str, list[float]] = {page: [] for page in pages}
    queries: dict[str, int] = {}
    for _ in range(runs):
        for page, urls in pages.items():
            url = urls()
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(url)
                timings[page].append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"GET {url} answered {response.status_code}")
            queries[page] = len(captured)
    return {page: (statistics.median(timings[page]), queries[page]) for page in pages}


def cycling(template: str, values: list) -> Callable[[], str]:
    values_iter = itertools.cycle(values)
    return lambda: template.format(next(values_iter))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    user = populate(args.instances)
    client = Client()
    client.force_login(user)
    rows = list(Instance.objects.order_by("name").values_list("pk", "name", "engine"))
    names = {
        engine: [name for _, name, e in rows if e == engine] for engine in ("postgresql", "valkey")
    }
    ids = [pk for pk, _, _ in rows]
    first_pg = names["postgresql"][0]

    pages = {
        "Settings tab, PostgreSQL (cold)": cycling("/instances/{}/", names["postgresql"]),
        "Settings tab, Valkey (cold)": cycling("/instances/{}/", names["valkey"]),
        "Settings tab, PostgreSQL (warm)": lambda: f"/instances/{first_pg}/",
        "Instance list": lambda: "/",
    }
    admin_ready = admin.site.is_registered(Instance)
    if admin_ready:
        pages["Admin change view"] = cycling("/admin/instances/instance/{}/change/", ids)
        pages["Admin changelist"] = lambda: "/admin/instances/instance/"
    results = measure(client, pages, args.runs)

    print(f"{args.instances} instances, median of {args.runs} runs after {WARMUP} warm-up runs\n")
    print(f"{'page':34} {'median ms':>10} {'queries':>8} {'vs admin':>9}")
    for page, (ms, queries) in results.items():
        print(f"{page:34} {ms:10.2f} {queries:8d} {ratio(page, ms, results):>9}")
    if not admin_ready:
        print("\nDjango admin has no Instance registration (instances/admin.py): no comparison.")
        return
    settings_ms = results["Settings tab, PostgreSQL (cold)"][0]
    admin_ms = results["Admin change view"][0]
    verdict = "meets" if settings_ms < admin_ms else "MISSES"
    print(f"\nGoal (Settings tab faster than the admin change view): {verdict}.")


def ratio(page: str, ms: float, results: dict[str, tuple[float, int]]) -> str:
    baseline = "Admin changelist" if page == "Instance list" else "Admin change view"
    if page.startswith("Admin") or baseline not in results:
        return ""
    return f"{ms / results[baseline][0]:.2f}x"


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(DATA_DIR, ignore_errors=True)
