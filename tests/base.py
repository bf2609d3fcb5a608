"""A base test case with ready teams, users in every role and instances."""

from __future__ import annotations

import io
import json
import tempfile
import time
from ipaddress import ip_network
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import trustme
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client, TestCase, override_settings

from accounts.stepup import SESSION_KEY
from instances.engines import engine_for
from instances.models import Engine, Instance, Membership, Role, Team
from tests.servers import ServerInfo

# Deny lists for tests against the suite's loopback servers: only a documentation network
# (TEST-NET-1) stays denied, so connection tests may reach 127.0.0.1.
ALLOW_LOOPBACK = [ip_network("192.0.2.0/24")]

TEST_PASSWORD = "pa'ss\"w@rd:/?#%$ü"
# A real CA certificate, for instances whose CA is parsed (validation, /ca.pem).
CA_PEM = trustme.CA().cert_pem.bytes().decode()


# A valid import_instances record of a new instance in a new team.
IMPORT_RECORD = {
    "name": "orders-db",
    "engine": "postgresql",
    "tier": "pro",
    "team": "Gamma",
    "host": "orders.db.zektor.example",
    "username": "orders",
    "password": TEST_PASSWORD,
    "database": "orders",
    "sslmode": "verify-full",
}


def import_records(records: list[dict]) -> str:
    """Runs import_instances on a JSON file of ``records``; its output."""
    out = io.StringIO()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "instances.json"
        path.write_text(json.dumps(records))
        call_command("import_instances", str(path), stdout=out, stderr=out)
    return out.getvalue()


def admin_form_data(instance: Instance, **overrides) -> dict:
    """What Django admin's instance change form posts: the stored values, password blank."""
    data = {
        "name": instance.name,
        "team": instance.team_id,
        "engine": instance.engine,
        "tier": instance.tier,
        "status": instance.status,
        "host": instance.host,
        "port": instance.port,
        "username": instance.username,
        "new_password": "",
        "database": instance.database,
        "sslmode": instance.sslmode,
        "tls": "on" if instance.tls else "",
        "ca_cert": instance.ca_cert,
    }
    return data | overrides


def instance_on(server: ServerInfo, team: Team, name: str, **fields) -> Instance:
    """A saved instance pointing at a real test server, verifying its certificate fully."""
    values = {
        "host": server.host,
        "port": server.port,
        "username": server.username,
        "password": server.password,
        "database": server.database or "",
        "ca_cert": server.ca_pem or "",
        "sslmode": "verify-full",
    }
    values.update(fields)
    return make_instance(team, name, server.engine, **values)


def make_instance(team: Team, name: str, engine: str = Engine.POSTGRESQL, **fields) -> Instance:
    defaults: dict[str, Any] = {
        "host": f"{name}.db.zektor.example",
        "port": engine_for(engine).default_port,
        "username": engine_for(engine).default_username or "app",
        "database": "app" if engine_for(engine).has_database else "",
        "tier": "standard",
    }
    defaults.update(fields)
    password = defaults.pop("password", TEST_PASSWORD)
    instance = Instance(team=team, name=name, engine=engine, **defaults)
    instance.set_password(password)
    instance.save()
    return instance


def freeze_rate_windows(testcase: TestCase) -> None:
    """Hold django-ratelimit's clock at one moment until ``testcase`` ends: its windows are
    fixed minutes, so a test that crossed a minute boundary would see its count reset."""
    clock = mock.patch("django_ratelimit.core.time.time", return_value=time.time())
    clock.start()
    testcase.addCleanup(clock.stop)


def expire_proof(client: Client) -> None:
    """Make the session's last step-up proof older than any step-up window."""
    session = client.session
    session[SESSION_KEY] = {**session[SESSION_KEY], "at": 0}
    session.save()


def stored_password(instance: Instance) -> str:
    """The password the portal stores for ``instance`` now (read fresh from the database
    when the instance is saved)."""
    fresh = Instance.objects.get(pk=instance.pk) if instance.pk else instance
    return fresh.unseal("password_sealed")


class BaseTestCase(TestCase):
    alpha: Team
    beta: Team
    admin: User
    member: User
    viewer: User
    outsider: User
    pg: Instance
    cache: Instance
    beta_pg: Instance

    @classmethod
    def setUpTestData(cls) -> None:
        cls.alpha = Team.objects.create(name="Alpha")
        cls.beta = Team.objects.create(name="Beta")
        cls.admin = cls.make_user("alice", cls.alpha, Role.ADMIN)
        cls.member = cls.make_user("bob", cls.alpha, Role.MEMBER)
        cls.viewer = cls.make_user("charlie", cls.alpha, Role.VIEWER)
        cls.outsider = cls.make_user("bea", cls.beta, Role.ADMIN)
        cls.pg = make_instance(cls.alpha, "alpha-pg")
        cls.cache = make_instance(cls.alpha, "alpha-cache", Engine.VALKEY)
        cls.beta_pg = make_instance(cls.beta, "beta-pg")

    @staticmethod
    def make_user(username: str, team: Team, role: str) -> User:
        user = User.objects.create_user(username, password="password")
        Membership.objects.create(user=user, team=team, role=role)
        return user


@pytest.mark.servers
@override_settings(ZEKTOR_CHECK_DENY_NETWORKS=ALLOW_LOOPBACK, ZEKTOR_CHECK_TIMEOUT=3.0)
class LiveServersTestCase(BaseTestCase):
    """A base test case whose connection tests may reach the suite's TLS PostgreSQL and
    Redis on loopback (``pg_server``, ``redis_server``)."""

    pg_server: ServerInfo
    redis_server: ServerInfo

    @pytest.fixture(autouse=True)
    def _servers(self, pg_tls: ServerInfo, redis_tls: ServerInfo) -> None:
        self.pg_server, self.redis_server = pg_tls, redis_tls
