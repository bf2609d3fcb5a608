"""No stored password can be found in plaintext in a dump of the portal's database."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from django.db import connection

from instances.models import Engine, Team
from tests.base import make_instance

SECRETS = ["Plaintext-Needle-ü€-1", "another needle with spaces 2"]


def database_dump() -> str:
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return "\n".join(connection.connection.iterdump())
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.fail("pg_dump is needed to dump the PostgreSQL test database")
    env = {**os.environ, "PGPASSWORD": settings.get("PASSWORD") or ""}
    host, port = settings["HOST"] or "127.0.0.1", str(settings["PORT"] or 5432)
    result = subprocess.run(
        [pg_dump, "--data-only", "-h", host, "-p", port, "-U", settings["USER"], settings["NAME"]],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout


@pytest.mark.django_db(transaction=True)
def test_it_keeps_no_plaintext_password_in_a_database_dump():
    team = Team.objects.create(name="Dump")
    make_instance(team, "dump-pg", password=SECRETS[0])
    make_instance(team, "dump-cache", Engine.VALKEY, password=SECRETS[1])
    dump = database_dump()
    assert "dump-pg" in dump  # the dump really holds the rows
    for secret in SECRETS:
        assert secret not in dump
        assert secret.encode().hex() not in dump
