"""The check engine against real servers (tests/servers.py); nothing here mocks the network."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import time
from typing import Any

import pytest

from instances.checks import hints
from instances.checks.limits import limits
from instances.checks.report import Certificate, Report, ServerFacts
from instances.checks.runner import ConnectionCheck
from instances.checks.session import Session
from instances.engines import Target, engine_for
from instances.outbound import AddressPolicy
from tests.base import ALLOW_LOOPBACK
from tests.servers import HOSTILE_PASSWORD, ServerInfo, Tarpit

pytestmark = pytest.mark.servers

# Test servers listen on loopback, which the default deny list refuses.
LOOPBACK_DENIED = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
TIMEOUT = 3.0


# The top-level keys of a report, as shared/interface.md names them.
REPORT_KEYS = {
    "instance",
    "engine",
    "status",
    "started_at",
    "duration_ms",
    "steps",
    "tls",
    "server",
}


def target(server: ServerInfo, **fields) -> Target:
    values: dict[str, Any] = {
        "name": f"test-{server.engine}",
        "engine": server.engine,
        "host": server.host,
        "port": server.port,
        "username": server.username,
        "password": server.password,
        "database": server.database or "",
        "sslmode": "verify-full",
        "tls": True,
        "ca_cert": server.ca_pem or "",
        "tier": "standard",
        "tier_max_connections": 50 if server.is_postgres else 256,
    }
    values.update(fields)
    return Target(**values)


def target_at(host: str, port: int, engine: str = "postgresql", **fields) -> Target:
    """A target where no instance answers (a closed port, a tarpit, a denied or unknown
    host), logging in with the hostile password as the engine's usual user."""
    facts = engine_for(engine)
    values: dict[str, Any] = {
        "name": "t",
        "engine": engine,
        "host": host,
        "port": port,
        "username": facts.default_username or "app",
        "password": HOSTILE_PASSWORD,
        "database": "app" if facts.has_database else "",
    }
    values.update(fields)
    return Target(**values)


def certificate_of(report: Report) -> Certificate:
    assert report.tls is not None and report.tls.certificate is not None, report.as_dict()
    return report.tls.certificate


def run(t: Target, *, timeout: float = TIMEOUT, deny=ALLOW_LOOPBACK, allow_loopback=None) -> Report:
    began = time.monotonic()
    check = ConnectionCheck(t, timeout=timeout, deny_networks=deny, allow_loopback=allow_loopback)
    report = check.run_all()
    elapsed = time.monotonic() - began
    assert elapsed <= timeout + 1, f"took {elapsed:.2f} s"
    assert report.duration_ms <= (timeout + 1) * 1000
    text = json.dumps(report.as_dict())
    assert t.password not in text
    return report


def step(report: Report, name: str):
    return next(s for s in report.steps if s.name == name)


def assert_failed_at(report: Report, name: str, hint_part: str):
    names = [s.name for s in report.steps]
    failed = step(report, name)
    assert report.status == "fail"
    assert failed.status == "fail", failed
    assert hint_part in (failed.hint or ""), failed.hint
    assert all(s.status == "ok" for s in report.steps[: names.index(name)])
    assert all(s.status == "skipped" for s in report.steps[names.index(name) + 1 :])


# ------------------------------------------------------------------ healthy servers


def test_it_passes_a_healthy_tls_postgresql(pg_tls):
    report = run(target(pg_tls))
    assert report.status == "ok", report.as_dict()
    assert [s.name for s in report.steps] == ["resolve", "tcp", "tls", "auth", "query", "limits"]
    data = report.as_dict()
    assert data["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
    certificate = data["tls"]["certificate"]
    assert certificate["hostname_match"] is True
    assert certificate["chain_valid"] is True
    assert certificate["days_left"] > 14
    assert "Zektor Test CA" in certificate["issuer"]
    assert data["server"]["version"].startswith("PostgreSQL")
    assert data["server"]["max_connections"] == 50
    assert data["server"]["connections"] >= 1


def test_it_passes_a_healthy_tls_valkey(redis_tls):
    report = run(target(redis_tls))
    assert report.status == "ok", report.as_dict()
    assert certificate_of(report).hostname_match
    assert report.server is not None and report.server.max_connections == 256
    assert report.server.version.split()[0] in ("Redis", "Valkey")


def test_it_reports_the_json_contract_keys(redis_tls):
    data = run(target(redis_tls)).as_dict()
    assert set(data) == REPORT_KEYS
    assert set(data["steps"][0]) == {"name", "status", "duration_ms", "message", "hint"}
    assert set(data["tls"]) == {"version", "cipher", "certificate"}
    assert set(data["tls"]["certificate"]) == {
        "subject",
        "issuer",
        "not_after",
        "days_left",
        "hostname_match",
        "chain_valid",
    }
    assert set(data["server"]) == {"version", "connections", "max_connections"}
    json.dumps(data)


def test_it_warns_when_the_server_limit_differs_from_the_tier(pg_tls):
    report = run(target(pg_tls, tier="pro", tier_max_connections=100))
    limits_step = step(report, "limits")
    assert report.status == "warn"
    assert limits_step.status == "warn"
    assert "50" in limits_step.message and "100" in limits_step.message
    assert limits_step.hint == hints.TIER_MISMATCH


# ------------------------------------------------------------------------- no TLS


def test_it_fails_tls_on_a_postgresql_without_tls(pg_plain):
    report = run(target(pg_plain, sslmode="require"))
    assert_failed_at(report, "tls", "TLS")
    assert "does not offer TLS" in step(report, "tls").message
    assert report.tls is None


def test_it_fails_tls_on_a_valkey_without_tls(redis_plain):
    report = run(target(redis_plain))
    assert_failed_at(report, "tls", "TLS")


def test_it_warns_when_a_valkey_instance_has_tls_off(redis_plain):
    report = run(target(redis_plain, tls=False))
    assert report.status == "warn"
    assert step(report, "tls").status == "warn"
    assert step(report, "tls").hint == hints.TLS_OFF
    assert step(report, "auth").status == "ok"
    assert step(report, "query").status == "ok"


# ------------------------------------------------------------------- certificates


def test_it_fails_a_certificate_for_another_host_with_verify_full(pg_wrong_host):
    report = run(target(pg_wrong_host))
    assert_failed_at(report, "tls", hints.WRONG_HOST)
    certificate = certificate_of(report)
    assert certificate.hostname_match is False
    assert certificate.chain_valid is True
    assert "db.example.invalid" in step(report, "tls").message


def test_it_warns_about_a_certificate_for_another_host_with_require(pg_wrong_host):
    report = run(target(pg_wrong_host, sslmode="require"))
    assert report.status == "warn", report.as_dict()
    tls_step = step(report, "tls")
    assert tls_step.status == "warn"
    assert "sslmode=require" in tls_step.hint
    assert step(report, "auth").status == "ok"


def test_it_warns_about_a_wrong_host_with_verify_ca(pg_wrong_host):
    report = run(target(pg_wrong_host, sslmode="verify-ca"))
    assert step(report, "tls").status == "warn"
    assert step(report, "auth").status == "ok"


def test_it_fails_a_valkey_certificate_for_another_host(redis_wrong_host):
    report = run(target(redis_wrong_host))
    assert_failed_at(report, "tls", hints.WRONG_HOST)


def test_it_fails_an_expired_certificate(pg_expired):
    report = run(target(pg_expired))
    assert_failed_at(report, "tls", hints.EXPIRED)
    assert "expired" in step(report, "tls").message
    assert certificate_of(report).days_left < 0
    assert certificate_of(report).chain_valid is False


def test_it_warns_about_an_expired_certificate_with_require(pg_expired):
    report = run(target(pg_expired, sslmode="require"))
    assert step(report, "tls").status == "warn"
    assert report.status == "warn"


def test_it_warns_when_the_certificate_expires_within_14_days(make_redis):
    server = make_redis(valid_days=5)
    report = run(target(server))
    assert report.status == "warn"
    tls_step = next(step for step in report.steps if step.name == "tls")
    assert tls_step.status == "warn"
    assert certificate_of(report).days_left in (4, 5)
    assert "days" in tls_step.message and tls_step.hint
    assert [step.status for step in report.steps[3:5]] == ["ok", "ok"]


def test_it_fails_an_expired_valkey_certificate(redis_expired):
    report = run(target(redis_expired))
    assert_failed_at(report, "tls", hints.EXPIRED)


def test_it_fails_a_certificate_from_an_unknown_ca(pg_unknown_ca, test_ca):
    trusted = test_ca.cert_pem.bytes().decode()
    report = run(target(pg_unknown_ca, ca_cert=trusted))
    assert_failed_at(report, "tls", hints.CA_FILE)
    assert "not trusted" in step(report, "tls").message
    assert certificate_of(report).chain_valid is False
    assert certificate_of(report).hostname_match is True


def test_it_fails_against_public_roots_without_the_instance_ca(pg_tls):
    report = run(target(pg_tls, ca_cert=""))
    assert_failed_at(report, "tls", hints.PUBLIC_CA)


def test_it_fails_a_valkey_certificate_from_an_unknown_ca(redis_unknown_ca, test_ca):
    report = run(target(redis_unknown_ca, ca_cert=test_ca.cert_pem.bytes().decode()))
    assert_failed_at(report, "tls", hints.CA_FILE)


# ------------------------------------------------------------------------- logins


def test_it_tells_a_wrong_postgresql_password(pg_tls):
    report = run(target(pg_tls, password="not-the-password"))
    assert_failed_at(report, "auth", hints.PASSWORD)
    assert "password" in step(report, "auth").message


def test_it_tells_an_unknown_database(pg_tls):
    report = run(target(pg_tls, database="no_such_db"))
    assert_failed_at(report, "auth", hints.DATABASE)
    assert "no_such_db" in step(report, "auth").message


def test_it_tells_a_wrong_valkey_password(redis_tls):
    report = run(target(redis_tls, password="not-the-password"))
    assert_failed_at(report, "auth", hints.PASSWORD)


def test_it_never_reports_the_password_even_when_a_server_echoes_it(redis_tls):
    # The user name is the password: the server's refusal names it; the report must not.
    report = run(target(redis_tls, username=HOSTILE_PASSWORD))
    assert step(report, "auth").status == "fail"
    assert HOSTILE_PASSWORD not in json.dumps(report.as_dict())


# ------------------------------------------------------------------------ network


def test_it_fails_tcp_on_a_closed_port(closed_port):
    t = target_at("127.0.0.1", closed_port)
    report = run(t)
    assert_failed_at(report, "tcp", "Nothing accepts connections")
    assert "refused" in step(report, "tcp").message


def test_it_blames_a_suspended_instance_first(closed_port):
    t = target_at("127.0.0.1", closed_port, "valkey", status="suspended")
    report = run(t)
    assert_failed_at(report, "tcp", "The instance is suspended")


@pytest.mark.parametrize("engine", ["postgresql", "valkey"])
def test_it_gives_up_on_a_tarpit_within_the_deadline(tarpit: Tarpit, engine):
    t = target_at(tarpit.host, tarpit.port, engine)
    began = time.monotonic()
    report = run(t, timeout=2.0)
    elapsed = time.monotonic() - began
    assert elapsed < 3.0
    assert_failed_at(report, "tls", "Active")


def test_it_fails_to_resolve_an_unknown_name():
    t = target_at("nonexistent.invalid", 5432)
    report = run(t)
    assert_failed_at(report, "resolve", hints.DNS_NEW)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "::ffff:127.0.0.1"])
def test_it_refuses_denied_networks_without_sending_a_packet(tarpit: Tarpit, host):
    accepted = tarpit.accepted
    t = target_at(host, tarpit.port, "valkey")
    report = run(t, deny=LOOPBACK_DENIED, allow_loopback=False)
    assert_failed_at(report, "resolve", "ZEKTOR_CHECK_DENY_NETWORKS")
    assert "Nothing was sent" in step(report, "resolve").message
    time.sleep(0.2)
    assert tarpit.accepted == accepted


def test_it_uses_the_settings_deny_list_by_default(tarpit: Tarpit, settings):
    settings.ZEKTOR_CHECK_ALLOW_LOOPBACK = False
    t = target_at("127.0.0.1", tarpit.port, "valkey")
    report = ConnectionCheck(t, timeout=TIMEOUT).run_all()
    assert step(report, "resolve").status == "fail"


# ------------------------------------------------------------- limits (no network)


def _session_with(server: ServerFacts, tier_max: int | None) -> Session:
    t = Target(
        name="l",
        engine="postgresql",
        host="h",
        port=1,
        username="u",
        password="p" * 8,
        tier_max_connections=tier_max,
    )
    session = Session(t, engine_for(t), AddressPolicy(()), 1.0)
    session.server = server
    return session


def test_it_warns_near_the_connection_limit():
    outcome = limits(_session_with(ServerFacts("PostgreSQL 16", 41, 50), 50))
    assert outcome.status == "warn"
    assert "41 of 50" in outcome.message
    assert outcome.hint == hints.POOL


def test_it_accepts_use_below_the_limit():
    outcome = limits(_session_with(ServerFacts("PostgreSQL 16", 39, 50), 50))
    assert outcome.status == "ok"


def test_it_reports_certificate_dates_as_iso_strings(redis_tls):
    data = run(target(redis_tls)).as_dict()
    not_after = dt.datetime.fromisoformat(data["tls"]["certificate"]["not_after"])
    assert not_after.tzinfo is not None


def test_it_keeps_the_overall_deadline_when_steps_may_take_longer(tarpit: Tarpit):
    t = target_at(tarpit.host, tarpit.port)
    began = time.monotonic()
    check = ConnectionCheck(t, timeout=1.5, step_timeout=30, deny_networks=ALLOW_LOOPBACK)
    report = check.run_all()
    assert time.monotonic() - began < 2.5
    assert step(report, "tls").status == "fail"
