"""The engine modules against real and fake servers: what a login never sends, where a
rotation's TLS trust comes from, and that the registry is the one list of engines."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import trustme
from django.test import override_settings

from instances import outbound
from instances.checks.runner import ConnectionCheck
from instances.engines import ENGINES, Target, engine_for
from instances.engines.postgresql import POSTGRESQL, connect_params
from instances.models import Engine, RotationState
from instances.rotation import machine
from tests.base import BaseTestCase, instance_on, make_instance, stored_password
from tests.fake_postgres import CLEARTEXT, MD5, FakePostgres
from tests.rotation_support import logs_in
from tests.servers import HOSTILE_PASSWORD


@pytest.fixture
def fake_pg(test_ca: trustme.CA) -> Iterator[FakePostgres]:
    server = FakePostgres(test_ca)
    try:
        yield server
    finally:
        server.stop()


def fake_target(fake: FakePostgres, test_ca: trustme.CA, **fields) -> Target:
    values: dict[str, Any] = {
        "name": "fake",
        "engine": "postgresql",
        "host": fake.host,
        "port": fake.port,
        "username": "app",
        "password": HOSTILE_PASSWORD,
        "database": "app",
        "sslmode": "require",
    }
    values.update(fields)
    return Target(**values)


def assert_never_sent(fake: FakePostgres) -> None:
    fake.stop()  # waits for every conversation, so the record is complete
    assert fake.after_auth_request, "the fake server was asked for a login"
    for data in fake.after_auth_request:
        assert HOSTILE_PASSWORD.encode() not in data
        assert not data.startswith(b"p"), f"a password message was sent: {data[:5]!r}"


def test_it_registers_every_engine_of_the_model_and_nothing_else():
    assert set(ENGINES) == set(Engine.values)
    for name, engine in ENGINES.items():
        assert engine.name == name and engine_for(name) is engine


def test_it_derives_libpq_tls_settings_in_one_place():
    target = Target("t", "postgresql", "db.example", 5432, "app", "pw", "app", "verify-full")
    assert connect_params(target, "203.0.113.5", None, "x")["sslrootcert"] == "system"
    assert connect_params(target, "203.0.113.5", "/ca.pem", "x")["sslrootcert"] == "/ca.pem"
    require = connect_params(
        target.__class__(**{**target.__dict__, "sslmode": "require"}), "203.0.113.5", "/ca.pem", "x"
    )
    assert "sslrootcert" not in require
    assert require["require_auth"] == "scram-sha-256"
    assert require["hostaddr"] == "203.0.113.5" and require["host"] == "db.example"


@pytest.mark.parametrize("method", [CLEARTEXT, MD5])
@pytest.mark.parametrize("sslmode", ["require", "verify-full"])
def test_a_check_never_answers_a_weak_password_request(test_ca, method, sslmode):
    fake = FakePostgres(test_ca, method)
    try:
        target = fake_target(
            fake, test_ca, sslmode=sslmode, ca_cert=test_ca.cert_pem.bytes().decode()
        )
        report = ConnectionCheck(target, timeout=5).run_all()
    finally:
        fake.stop()
    auth = next(step for step in report.steps if step.name == "auth")
    assert auth.status == "fail"
    weaker = "the password in clear text" if method == CLEARTEXT else "an MD5-hashed password"
    assert f"The server asked for {weaker}" in auth.message
    assert "did not send the password" in auth.message
    assert "scram-sha-256" in (auth.hint or "")
    assert_never_sent(fake)


def test_an_instance_that_allows_md5_still_never_answers_cleartext(fake_pg, test_ca):
    target = fake_target(fake_pg, test_ca, allow_md5=True)
    report = ConnectionCheck(target, timeout=5).run_all()
    auth = next(step for step in report.steps if step.name == "auth")
    assert "asked for the password in clear text" in auth.message
    assert_never_sent(fake_pg)


def test_a_require_instance_is_told_its_certificate_was_not_verified(pg_tls):
    target = Target(
        "r",
        "postgresql",
        pg_tls.host,
        pg_tls.port,
        pg_tls.username,
        pg_tls.password,
        pg_tls.database or "",
        "require",
    )
    report = ConnectionCheck(target, timeout=5).run_all()
    tls = next(step for step in report.steps if step.name == "tls")
    assert "The certificate was not verified" in tls.message
    assert "sslmode=require" in tls.message
    full = ConnectionCheck(
        target.__class__(**{**target.__dict__, "sslmode": "verify-full", "ca_cert": pg_tls.ca_pem}),
        timeout=5,
    ).run_all()
    assert "not verified" not in next(s for s in full.steps if s.name == "tls").message


class EngineRotationTests(BaseTestCase):
    @pytest.fixture(autouse=True)
    def _fixtures(self, make_pg, make_redis, test_ca, monkeypatch, caplog):
        self.make_pg, self.make_redis, self.test_ca = make_pg, make_redis, test_ca
        self.monkeypatch = monkeypatch
        caplog.set_level(logging.INFO)

    def test_a_rotation_never_answers_a_cleartext_password_request(self):
        fake = FakePostgres(self.test_ca)
        try:
            instance = make_instance(
                self.alpha,
                "fake-pg",
                host=fake.host,
                port=fake.port,
                sslmode="require",
                password=HOSTILE_PASSWORD,
            )
            rotation = machine.advance(machine.start(instance))
        finally:
            fake.stop()
        self.assertEqual(rotation.state, RotationState.NEEDS_ATTENTION)
        self.assertIn("asked for the password in clear text", rotation.reason)
        self.assertEqual(stored_password(instance), HOSTILE_PASSWORD)
        assert_never_sent(fake)

    def test_it_rotates_a_verify_full_instance_trusted_through_the_system_store(self):
        # No private CA on the instance: libpq's sslrootcert=system and Python's default
        # context read OpenSSL's default store, which SSL_CERT_FILE replaces here.
        for server in (self.make_pg(), self.make_redis()):
            self.monkeypatch.setenv("SSL_CERT_FILE", server.ca_file)
            outbound.tls_context.cache_clear()
            try:
                instance = instance_on(server, self.alpha, f"system-{server.engine}", ca_cert="")
                self.assertEqual(instance.sslmode, "verify-full")
                rotation = machine.advance(machine.start(instance))
                self.assertEqual(rotation.state, RotationState.DONE, rotation.reason)
                self.assertTrue(logs_in(server, stored_password(instance)))
                self.assertFalse(logs_in(server, HOSTILE_PASSWORD))
            finally:
                self.monkeypatch.delenv("SSL_CERT_FILE")
                outbound.tls_context.cache_clear()

    @override_settings(ZEKTOR_CHECK_TIMEOUT=3.0)
    def test_without_the_ca_in_the_system_store_a_verify_full_rotation_changes_nothing(self):
        server = self.make_pg()
        instance = instance_on(server, self.alpha, "untrusted-pg", ca_cert="")
        rotation = machine.advance(machine.start(instance))
        self.assertEqual(rotation.state, RotationState.NEEDS_ATTENTION)
        self.assertIn("certificate verify failed", rotation.reason)
        self.assertTrue(logs_in(server, HOSTILE_PASSWORD), "the server was not touched")
        self.assertEqual(POSTGRESQL.name, engine_for(instance).name)
