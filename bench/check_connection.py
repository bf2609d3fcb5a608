"""Benchmark of the connection test against real local servers (tests/servers.py).

Measures, in one run: a bare psycopg verify-full connect + ``select 1`` and a bare redis-py
TLS PING (the baselines), then full checks through the engine, the ``check_connection``
command and the HTTP endpoint, as median / p95 and as ratios to the baseline; then
``check_instances --all`` over 100 instances at concurrency 1 and 16.

    .venv/bin/python bench/check_connection.py [--runs 40]

The command and HTTP rows include storing the run in the portal database (shown on its
own as "storing one run"; SQLite in WAL mode, as the portal runs it).

Goals: a healthy check at most 2x the bare driver connect; 100 instances in under 2 s at
concurrency 16.
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_DB_DIR = tempfile.mkdtemp(prefix="zektor-bench-")
os.environ["DATABASE_URL"] = f"sqlite:///{_DB_DIR}/bench.sqlite3"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from instances.checks.runner import ConnectionCheck  # noqa: E402
from instances.checks.service import check_target, save_run  # noqa: E402
from instances.models import Instance, Membership, Role, Team  # noqa: E402
from tests.base import instance_on  # noqa: E402
from tests.servers import ServerInfo, start_postgres, start_redis  # noqa: E402

FLEET_SIZE = 100


def timed(action: Callable[[], object], runs: int) -> list[float]:
    action()  # warm up: imports, caches, first SCRAM
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def bare_postgresql(server: ServerInfo) -> None:
    with psycopg.connect(
        host=server.host,
        port=server.port,
        user=server.username,
        password=server.password,
        dbname=server.database,
        sslmode="verify-full",
        sslrootcert=server.ca_file,
    ) as conn:
        conn.execute("select 1").fetchone()


def bare_valkey(server: ServerInfo) -> None:
    client = redis.Redis(
        host=server.host,
        port=server.port,
        username=server.username,
        password=server.password,
        ssl=True,
        ssl_ca_certs=server.ca_file,
    )
    with client:
        client.ping()


def check_engine(instance: Instance) -> None:
    report = ConnectionCheck(check_target(instance)).run_all()
    assert report.status == "ok", report.as_dict()


def check_command(instance: Instance) -> None:
    call_command("check_connection", instance.name, json=True, stdout=io.StringIO())


def check_http(client: Client, instance: Instance) -> None:
    cache.clear()  # the endpoint allows 10 runs a minute per user and instance
    response = client.post(reverse("instance-check-run", args=[instance.name]))
    body = response.getvalue()
    assert b'"status": "ok"' in body.splitlines()[-1], body[-500:]


def fleet_seconds(concurrency: int) -> float:
    began = time.perf_counter()
    call_command(
        "check_instances", all=True, json=True, concurrency=concurrency, stdout=io.StringIO()
    )
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    runs = parser.parse_args().runs

    settings.ZEKTOR_CHECK_DENY_NETWORKS = []  # the servers listen on loopback
    call_command("migrate", verbosity=0)
    pg, cache_server = start_postgres(name="bench-pg"), start_redis(name="bench-redis")
    try:
        team = Team.objects.create(name="Bench")
        user = User.objects.create_user("bench")
        Membership.objects.create(user=user, team=team, role=Role.MEMBER)
        pg_instance = instance_on(pg, team, "bench-pg")
        cache_instance = instance_on(cache_server, team, "bench-cache")
        client = Client()
        client.force_login(user)

        rows = []
        for label, server, instance, bare in (
            ("PostgreSQL", pg, pg_instance, bare_postgresql),
            ("Valkey", cache_server, cache_instance, bare_valkey),
        ):
            baseline = timed(functools.partial(bare, server), runs)
            base = statistics.median(baseline)
            rows.append((f"{label}: bare driver", baseline, base))
            for how, action in (
                ("engine", lambda i=instance: check_engine(i)),
                ("command", lambda i=instance: check_command(i)),
                ("HTTP", lambda i=instance: check_http(client, i)),
            ):
                rows.append((f"{label}: check via {how}", timed(action, runs), base))

        report = ConnectionCheck(check_target(pg_instance)).run_all()
        store = timed(lambda: save_run(pg_instance, report), runs)
        rows.append(("storing one run (portal DB)", store, statistics.median(rows[0][1])))

        print(f"\n{'measurement':<34}{'median ms':>10}{'p95 ms':>9}{'x bare':>8}")
        for label, samples, base in rows:
            median = statistics.median(samples)
            print(f"{label:<34}{median:>10.1f}{p95(samples):>9.1f}{median / base:>8.2f}")

        Instance.objects.filter(pk__in=[pg_instance.pk, cache_instance.pk]).delete()
        for number in range(FLEET_SIZE):
            server = pg if number % 2 == 0 else cache_server
            instance_on(server, team, f"fleet-{number:03d}")
        print(f"\ncheck_instances --all over {FLEET_SIZE} instances (half PostgreSQL, half Valkey)")
        for concurrency in (1, 16):
            seconds = fleet_seconds(concurrency)
            verdict = (
                ""
                if concurrency == 1
                else ("  (goal < 2 s: met)" if seconds < 2 else "  (goal < 2 s: MISSED)")
            )
            print(f"  concurrency {concurrency:>2}: {seconds:6.2f} s{verdict}")
    finally:
        pg.stop()
        cache_server.stop()


if __name__ == "__main__":
    main()
