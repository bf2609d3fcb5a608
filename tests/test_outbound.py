"""The one road out to an instance: which addresses are never contacted."""

from __future__ import annotations

import pytest

from instances.outbound import always_refused


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
