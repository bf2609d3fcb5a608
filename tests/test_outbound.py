"""The one road out to an instance: which addresses are never contacted."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from ipaddress import ip_network

import pytest

from instances.checks.runner import ConnectionCheck
from instances.engines import Target, engine_for
from instances.models import RotationState, Team
from instances.outbound import AddressPolicy, DeniedAddress, always_refused, lookup, vet
from instances.rotation import machine
from tests.base import make_instance
from tests.servers import HOSTILE_PASSWORD
from zektor_portal.env import DEFAULT_DENY_NETWORKS, Env


@pytest.mark.parametrize(
    "host",
    [
        "0.0.0.0",
        "0.1.2.3",
        "::",
        "::ffff:127.0.0.1",
        "::ffff:0.0.0.0",
        "::127.0.0.1",
        "::7f00:1",
        "64:ff9b::7f00:1",
        "64:ff9b::169.254.169.254",
        "2002:7f00:1::",
        "2002:a9fe:a9fe::1",
        "::ffff:100.100.100.200",
        "::%eth0",
        "0",
        "0x0",
        "0.0",
    ],
)
def test_it_always_refuses_unspecified_and_ipv6_forms_of_refused_addresses(host):
    reason = always_refused(host)
    assert reason is not None and host in reason


@pytest.mark.parametrize(
    "host",
    [
        "db.zektor.example",
        "localhost",
        "10.0.0.5",
        "203.0.113.9",
        "127.0.0.1",  # loopback: refused by ZEKTOR_CHECK_ALLOW_LOOPBACK, not always
        "::1",
        "2001:db8::5",
        "::ffff:203.0.113.9",
        "64:ff9b::cb00:7109",
    ],
)
def test_it_leaves_names_and_acceptable_literals_to_the_settings(host):
    assert always_refused(host) is None


def test_it_reads_the_old_numeric_ipv4_forms_as_the_resolver_does():
    assert lookup("127.1", 5432) == ["127.0.0.1"]
    assert lookup("0x7f.1", 5432) == ["127.0.0.1"]
    with pytest.raises(DeniedAddress, match="loopback"):
        vet(lookup("127.1", 5432), "127.1", AddressPolicy(deny=(), allow_loopback=False))


# ------------------------------------------------ against a real listener on loopback

ALWAYS_REFUSED_HOSTS = ["::", "0.0.0.0", "::ffff:127.0.0.1", "::127.0.0.1", "64:ff9b::7f00:1"]


class Listener:
    """Accepts on 127.0.0.1 and ::1 (one port) and counts what arrives: `::` reaches ::1 and
    0.0.0.0 reaches 127.0.0.1 on Linux, so a refused host that was contacted shows here."""

    def __init__(self) -> None:
        self.v4 = socket.create_server(("127.0.0.1", 0))
        self.port = self.v4.getsockname()[1]
        self.v6 = socket.create_server(("::1", self.port), family=socket.AF_INET6)
        self.accepted = 0
        self.received = b""
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._serve, args=(s,), daemon=True) for s in (self.v4, self.v6)
        ]
        for thread in self._threads:
            thread.start()

    def _serve(self, listener: socket.socket) -> None:
        listener.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            with conn:
                conn.settimeout(0.5)
                with contextlib.suppress(OSError):
                    self.received += conn.recv(4096)

    def stop(self) -> None:
        time.sleep(0.2)  # anything on its way arrives first
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        self.v4.close()
        self.v6.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    try:
        yield server
    finally:
        server.stop()


def test_the_listener_would_see_a_contact(listener):
    with socket.create_connection(("::", listener.port), timeout=1) as sock:
        sock.sendall(b"hello")
    with socket.create_connection(("0.0.0.0", listener.port), timeout=1):
        pass
    deadline = time.monotonic() + 5  # the listener counts a contact before it reads it
    while (listener.accepted, listener.received) != (2, b"hello") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert listener.accepted == 2 and listener.received == b"hello"


@pytest.mark.parametrize("engine", ["postgresql", "valkey"])
@pytest.mark.parametrize("host", ALWAYS_REFUSED_HOSTS)
def test_a_check_refuses_them_at_resolve_whatever_the_settings(listener, host, engine):
    target = Target(
        name="refused",
        engine=engine,
        host=host,
        port=listener.port,
        username="default",
        password=HOSTILE_PASSWORD,
        database="app" if engine_for(engine).has_database else "",
    )
    check = ConnectionCheck(target, timeout=3, deny_networks=[], allow_loopback=True)
    report = check.run_all()
    resolve = report.steps[0]
    assert (resolve.name, resolve.status) == ("resolve", "fail")
    assert "Nothing was sent" in resolve.message and host in resolve.message
    assert [step.status for step in report.steps[1:]] == ["skipped"] * 5
    listener.stop()
    assert (listener.accepted, listener.received) == (0, b"")


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "::1"])
def test_loopback_needs_allow_loopback(host):
    policy = AddressPolicy(deny=(), allow_loopback=False)
    with pytest.raises(DeniedAddress, match="ZEKTOR_CHECK_ALLOW_LOOPBACK"):
        vet(lookup(host, 5432), host, policy)
    assert vet(lookup(host, 5432), host, AddressPolicy(deny=(), allow_loopback=True))


def test_the_deny_list_covers_the_ipv6_forms_of_its_addresses():
    policy = AddressPolicy(deny=(ip_network("10.0.0.0/8"),), allow_loopback=True)
    for host in ("10.1.2.3", "::ffff:10.1.2.3", "64:ff9b::a01:203", "2002:a01:203::1"):
        with pytest.raises(DeniedAddress, match=r"10\.0\.0\.0/8"):
            vet([host], host, policy)
    assert vet(["10.1.2.3"], "10.1.2.3", AddressPolicy(deny=(), allow_loopback=False))


def test_the_default_deny_list_has_the_cloud_metadata_addresses():
    networks = Env({}).networks("X", DEFAULT_DENY_NETWORKS)
    policy = AddressPolicy(deny=tuple(networks), allow_loopback=True)
    for address in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200"):
        assert policy.refusal(address) is not None, address


@pytest.mark.django_db
@pytest.mark.parametrize("host", ALWAYS_REFUSED_HOSTS)
def test_a_rotation_refuses_them_whatever_the_settings(listener, host, settings):
    settings.ZEKTOR_CHECK_DENY_NETWORKS = []
    settings.ZEKTOR_CHECK_ALLOW_LOOPBACK = True
    team = Team.objects.create(name="Refused")
    rotations = []
    for engine in ("postgresql", "valkey"):
        instance = make_instance(team, f"refused-{engine}", engine, host=host, port=listener.port)
        rotations.append(machine.advance(machine.start(instance)))
    listener.stop()
    assert (listener.accepted, listener.received) == (0, b"")
    for rotation in rotations:
        assert rotation.state == RotationState.NEEDS_ATTENTION
        assert f"Not contacted: {host} is" in rotation.reason
