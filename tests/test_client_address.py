"""ZEKTOR_TRUSTED_PROXIES: real sign-in requests through the whole middleware stack behind a
reverse proxy. Lockout is per user and client address, spraying is limited per address,
and audit records name the client, not the proxy."""

from __future__ import annotations

import os
import subprocess
import sys
from ipaddress import ip_network

from allauth.core.internal.httpkit import get_client_ip
from axes.models import AccessAttempt
from django.core.cache import cache
from django.test import Client, override_settings
from django.urls import reverse

from instances.models import AuditEvent
from instances.signin import ADDRESS_FAILURES_RATE
from instances.system_checks import check_trusted_proxies
from tests.base import BaseTestCase

PROXY = "10.0.0.2"
ATTACKER = "198.51.100.66"
ALICE_HOME = "203.0.113.5"
SPRAY_LIMIT = int(ADDRESS_FAILURES_RATE.split("/")[0])


@override_settings(ZEKTOR_TRUSTED_PROXIES=[ip_network("10.0.0.0/8")])
class BehindAProxyTests(BaseTestCase):
    def setUp(self) -> None:
        cache.clear()

    def sign_in(self, username: str, password: str, forwarded_for: str, peer: str = PROXY):
        return Client().post(
            reverse("login"),
            {"username": username, "password": password},
            REMOTE_ADDR=peer,
            HTTP_X_FORWARDED_FOR=forwarded_for,
        )

    def assert_signed_in(self, response) -> None:
        self.assertEqual(response.status_code, 302)
        self.assertEqual(response["Location"], reverse("instance-list"))

    def test_an_attacker_cannot_lock_a_user_out_from_elsewhere(self):
        for _ in range(6):
            self.sign_in("alice", "wrong", ATTACKER)
        self.assert_signed_in(self.sign_in("alice", "password", ALICE_HOME))

    def test_the_attackers_own_address_is_locked_for_that_user(self):
        for _ in range(5):
            self.sign_in("alice", "wrong", ATTACKER)
        locked = self.sign_in("alice", "password", ATTACKER)
        self.assertEqual(locked.status_code, 429)
        self.assertContains(locked, "Too many failed sign-ins", status_code=429)
        self.assert_signed_in(self.sign_in("bob", "password", ATTACKER))

    def test_a_client_cannot_choose_its_address_with_the_header(self):
        # The proxy appends the real peer; whatever the client sent comes before it.
        for n in range(6):
            self.sign_in("alice", "wrong", f"192.0.2.{n}, {ATTACKER}")
        locked = self.sign_in("alice", "password", f"192.0.2.99, {ATTACKER}")
        self.assertEqual(locked.status_code, 429)
        event = AuditEvent.objects.filter(action="login_failed").earliest("id")
        self.assertEqual(event.client_address, ATTACKER)

    def test_the_header_from_an_untrusted_peer_is_ignored(self):
        self.sign_in("alice", "wrong", ALICE_HOME, peer=ATTACKER)
        event = AuditEvent.objects.get(action="login_failed")
        self.assertEqual(event.client_address, ATTACKER)

    def test_spraying_one_password_across_users_is_limited_per_address(self):
        for n in range(SPRAY_LIMIT + 1):
            self.sign_in(f"user{n}", "Summer2026!", ATTACKER)
        refused = self.sign_in("alice", "password", ATTACKER)
        self.assertEqual(refused.status_code, 429)
        self.assertContains(refused, "from your network address", status_code=429)
        self.assert_signed_in(self.sign_in("alice", "password", ALICE_HOME))

    def test_audit_records_name_the_client_behind_the_proxy(self):
        client = Client()
        client.force_login(self.member)
        client.post(
            reverse("instance-reveal", args=["alpha-pg"]),
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR=f"{ALICE_HOME}, 10.0.0.7",
        )
        self.assertEqual(AuditEvent.objects.get(action="reveal").client_address, ALICE_HOME)


class WithoutTrustedProxiesTests(BaseTestCase):
    def test_the_peer_address_is_used_and_the_header_ignored(self):
        Client().post(
            reverse("login"),
            {"username": "alice", "password": "wrong"},
            REMOTE_ADDR=ATTACKER,
            HTTP_X_FORWARDED_FOR=ALICE_HOME,
        )
        self.assertEqual(AuditEvent.objects.get().client_address, ATTACKER)


class FailedSignInUsernameTests(BaseTestCase):
    def sign_in_wrong(self, username: str) -> AuditEvent:
        cache.clear()
        Client().post(reverse("login"), {"username": username, "password": "wrong"})
        return AuditEvent.objects.get(action="login_failed")

    def test_it_records_the_username_of_an_existing_user(self):
        event = self.sign_in_wrong("alice")
        self.assertEqual((event.actor_name, event.detail["username"]), ("alice", "alice"))

    def test_it_never_records_what_was_typed_for_an_unknown_user(self):
        event = self.sign_in_wrong("hunter2-my-password")
        self.assertEqual((event.actor_name, event.detail["username"]), ("", ""))
        self.assertFalse(event.detail["known_user"])
        self.assertNotIn("hunter2", str(AuditEvent.objects.values_list()))
        # axes counts the attempt under a keyed digest, not the typed text.
        attempt = AccessAttempt.objects.get()
        self.assertTrue(str(attempt.username).startswith("unknown-"))
        self.assertNotIn("hunter2", str(AccessAttempt.objects.values_list()))

    def test_axes_keeps_counting_a_known_username(self):
        self.sign_in_wrong("alice")
        self.assertEqual(AccessAttempt.objects.get().username, "alice")


def test_it_warns_when_every_address_is_a_trusted_proxy(settings):
    settings.ZEKTOR_TRUSTED_PROXIES = [ip_network("0.0.0.0/0"), ip_network("10.0.0.0/8")]
    assert [w.id for w in check_trusted_proxies(None)] == ["zektor.W012"]
    settings.ZEKTOR_TRUSTED_PROXIES = [ip_network("10.0.0.0/8")]
    assert check_trusted_proxies(None) == []


def test_a_bad_trusted_proxies_value_stops_the_start_with_one_line():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        capture_output=True,
        text=True,
        env={**os.environ, "ZEKTOR_DEBUG": "true", "ZEKTOR_TRUSTED_PROXIES": "10.0.0.0/8,proxy"},
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "zektor: configuration error: ZEKTOR_TRUSTED_PROXIES: 'proxy' is not a CIDR network"
    )


@override_settings(ZEKTOR_TRUSTED_PROXIES=[ip_network("10.0.0.0/8")])
class AllauthAddressTests(BaseTestCase):
    def test_allauth_rate_limits_see_the_same_client_address(self):
        response = Client().get(
            reverse("login"),
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR=f"{ALICE_HOME}, 10.0.0.7",
            HTTP_X_ZEKTOR_CLIENT_ADDRESS="192.0.2.1",  # a client's own try is replaced
        )
        self.assertEqual(get_client_ip(response.wsgi_request), ALICE_HOME)

    def test_without_a_trusted_proxy_allauth_sees_the_peer(self):
        response = Client().get(
            reverse("login"), REMOTE_ADDR=ATTACKER, HTTP_X_ZEKTOR_CLIENT_ADDRESS="192.0.2.1"
        )
        self.assertEqual(get_client_ip(response.wsgi_request), ATTACKER)
