"""Alerts end to end: real checks against the suite's servers, delivered through a real
SMTP server and a real HTTP receiver on loopback."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from alerts import configure, delivery, digest, events
from alerts.models import (
    Alert,
    AlertState,
    Channel,
    Delivery,
    DeliveryStatus,
    TeamAlertSettings,
)
from instances.models import AuditEvent, Instance, Rotation, RotationState, Team
from tests.base import ALLOW_LOOPBACK, TEST_PASSWORD, BaseTestCase, instance_on
from tests.servers import HOSTILE_PASSWORD, start_redis
from tests.test_checks_commands import run_command
from zektor_portal.env import EmailServer

WEBHOOK_KEYS = {"id", "team", "instance", "event", "status", "message", "at"}


def email_server(port: int) -> EmailServer:
    return EmailServer(host="127.0.0.1", port=port, username="", password="", security="none")


class AlertTestCase(BaseTestCase):
    """Alpha has three channels: a signed webhook, a Slack-compatible one and e-mail."""

    @pytest.fixture(autouse=True)
    def _receivers(self, http_receiver, smtp_receiver):
        self.receiver, self.smtp = http_receiver, smtp_receiver
        with override_settings(
            ZEKTOR_CHECK_DENY_NETWORKS=ALLOW_LOOPBACK,
            ZEKTOR_CHECK_TIMEOUT=3.0,
            ZEKTOR_EMAIL_SERVER=email_server(smtp_receiver.port),
            ZEKTOR_EMAIL_FROM="alerts@zektor.test",
        ):
            yield

    def setUp(self) -> None:
        self.webhook, self.secret = configure.add_channel(
            self.alpha, "webhook", self.receiver.url("/hook"), actor_name="test"
        )
        self.slack, _ = configure.add_channel(
            self.alpha, "slack", self.receiver.url("/slack/T000/B000/s3cr3tpath"), actor_name="test"
        )
        self.mail, _ = configure.add_channel(
            self.alpha, "email", "ops@alpha.example", actor_name="test"
        )

    def hooks(self) -> list[dict]:
        return [json.loads(r.body) for r in self.receiver.requests if r.path == "/hook"]

    def events(self) -> list[tuple[str, str]]:
        return [(body["event"], body["instance"]) for body in self.hooks()]

    def everything_sent(self) -> str:
        bodies = [r.body.decode() + json.dumps(r.headers) for r in self.receiver.requests]
        mails = [m.as_string() for m in self.smtp.messages]
        return "\n".join(bodies + mails)


@pytest.mark.servers
class AvailabilityAlertTests(AlertTestCase):
    @pytest.fixture(autouse=True)
    def _servers(self, redis_tls, closed_port):
        self.server, self.closed_port = redis_tls, closed_port

    def setUp(self) -> None:
        super().setUp()
        Instance.objects.all().delete()
        self.down = instance_on(self.server, self.alpha, "down-cache", port=self.closed_port)

    def check(self, *names: str) -> int:
        return run_command("check_instances", *(names or ["down-cache"]), notify=True)[2]

    def test_it_alerts_once_after_two_failures_and_once_on_recovery(self):
        self.assertEqual(self.check(), 1)
        self.assertEqual(self.events(), [], "one failed check is not yet failing")
        self.assertEqual(self.check(), 1)
        self.assertEqual(self.events(), [("failing", "down-cache")])
        self.check()
        self.check()
        self.assertEqual(self.events(), [("failing", "down-cache")], "no repeat while failing")
        Instance.objects.filter(pk=self.down.pk).update(port=self.server.port)
        self.assertEqual(self.check(), 0)
        self.check()
        self.assertEqual(self.events(), [("failing", "down-cache"), ("recovered", "down-cache")])
        self.assertEqual(len(self.smtp.messages), 2)
        slack = [r for r in self.receiver.requests if r.path.startswith("/slack/")]
        self.assertEqual(len(slack), 2)
        self.assertIn("down-cache", json.loads(slack[0].body)["text"])

    def test_a_server_that_goes_down_and_comes_back_alerts_twice(self):
        server = start_redis(name="redis-goes-down")
        handle = server._handle  # the process itself: stopped and started on the same port
        assert handle is not None
        try:
            instance_on(server, self.alpha, "flaky-cache")
            self.assertEqual(self.check("flaky-cache"), 0)
            handle.terminate()
            self.check("flaky-cache")
            self.check("flaky-cache")
            self.assertEqual(self.events(), [("failing", "flaky-cache")])
            self.assertIn("refused the connection", self.hooks()[0]["message"])
            handle.start()
            self.assertEqual(self.check("flaky-cache"), 0)
            self.check("flaky-cache")
        finally:
            server.stop()
        self.assertEqual(self.events(), [("failing", "flaky-cache"), ("recovered", "flaky-cache")])

    def test_it_sends_the_documented_json_signed_with_hmac(self):
        self.check()
        self.check()
        request = next(r for r in self.receiver.requests if r.path == "/hook")
        body = json.loads(request.body)
        self.assertEqual(set(body), WEBHOOK_KEYS)
        self.assertEqual((body["team"], body["status"]), ("Alpha", "fail"))
        self.assertIn("tcp", body["message"])
        timestamp = request.headers["X-Zektor-Timestamp"]
        expected = hmac.new(
            self.secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256
        ).hexdigest()
        self.assertEqual(request.headers["X-Zektor-Signature"], f"sha256={expected}")
        self.assertEqual(request.headers["X-Zektor-Event"], "failing")

    def test_it_mails_the_alert_through_the_smtp_server(self):
        self.check()
        self.check()
        [mail] = self.smtp.messages
        self.assertEqual(self.smtp.envelopes, [("alerts@zektor.test", ["ops@alpha.example"])])
        self.assertEqual(mail["Subject"], "[Zektor] Alpha/down-cache: failing")
        self.assertIn("down-cache is failing: 2 checks in a row failed", mail.get_content())

    def test_nothing_secret_is_in_any_alert(self):
        Instance.objects.filter(pk=self.down.pk).update(port=self.server.port)
        instance_on(self.server, self.alpha, "wrong-pw", password=TEST_PASSWORD)
        for _ in range(3):
            self.check("down-cache", "wrong-pw")
        self.assertEqual(self.events(), [("failing", "wrong-pw")])
        sent = self.everything_sent()
        for secret in (HOSTILE_PASSWORD, TEST_PASSWORD, self.secret, "s3cr3tpath"):
            self.assertNotIn(secret, sent)
        for event in AuditEvent.objects.filter(action__startswith="alert_"):
            self.assertNotIn("s3cr3tpath", json.dumps(event.detail))
            self.assertNotIn(self.secret, json.dumps(event.detail))

    def test_it_follows_the_team_threshold(self):
        TeamAlertSettings.objects.create(team=self.alpha, failure_threshold=3)
        self.check()
        self.check()
        self.assertEqual(self.events(), [])
        self.check()
        self.assertEqual(self.events(), [("failing", "down-cache")])

    def test_a_broken_channel_changes_nothing_for_the_checks_or_the_others(self):
        configure.add_channel(
            self.alpha, "webhook", f"http://127.0.0.1:{self.closed_port}/", actor_name="test"
        )
        self.check()
        self.assertEqual(self.check(), 1, "the exit status is the checks'")
        self.assertEqual(self.events(), [("failing", "down-cache")])
        broken = Delivery.objects.get(channel__label__contains=str(self.closed_port))
        self.assertEqual((broken.status, broken.attempts), (DeliveryStatus.PENDING, 1))
        self.assertIn("Connection refused", broken.last_error)

    def test_a_suspended_instance_does_not_alert(self):
        Instance.objects.filter(pk=self.down.pk).update(status="suspended")
        for _ in range(3):
            self.check()
        self.assertEqual(self.events(), [])


@pytest.mark.servers
class CertificateAlertTests(AlertTestCase):
    def test_it_alerts_as_the_certificate_enters_14_7_and_1_days(self):
        server = start_redis(valid_days=10, name="redis-near-expiry")
        try:
            instance = instance_on(server, self.alpha, "near-cache")
            run_command("check_instances", "near-cache", notify=True)
            run_command("check_instances", "near-cache", notify=True)
        finally:
            server.stop()
        self.assertEqual(self.events(), [("certificate_expiring", "near-cache")])
        self.assertIn("expires in 9 days", self.hooks()[0]["message"])
        self.assertEqual(self.hooks()[0]["status"], "warn")
        not_after = Instance.objects.get(pk=instance.pk).cert_not_after
        assert not_after is not None
        for remaining in (dt.timedelta(days=6), dt.timedelta(days=5), dt.timedelta(hours=12)):
            events.observe_certificate(instance, not_after, not_after - remaining)
        events.observe_certificate(instance, not_after, not_after + dt.timedelta(minutes=1))
        delivery.deliver_due(not_after + dt.timedelta(minutes=1))
        self.assertEqual(
            [event for event, _ in self.events()],
            [
                "certificate_expiring",
                "certificate_expiring",
                "certificate_expiring",
                "certificate_expired",
            ],
        )
        self.assertEqual([h["status"] for h in self.hooks()], ["warn", "warn", "fail", "fail"])

    def test_a_renewed_certificate_resets_quietly(self):
        instance = self.pg
        now = timezone.now()
        events.observe_certificate(instance, now + dt.timedelta(days=3), now)
        events.observe_certificate(instance, now + dt.timedelta(days=300), now)
        events.observe_certificate(instance, now + dt.timedelta(days=300), now)
        self.assertEqual(Alert.objects.filter(instance=instance).count(), 1)
        state = AlertState.objects.get(instance=instance, topic="certificate")
        self.assertEqual(state.state, "ok")


class DeliveryTests(AlertTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.slack.delete()  # the scripted answers are for the signed webhook alone

    def raise_failing(self, now: dt.datetime) -> Alert:
        return delivery.raise_alert(
            self.alpha, self.pg, "failing", "fail", "alpha-pg fails", now=now
        )

    def webhook_delivery(self) -> Delivery:
        return Delivery.objects.get(channel=self.webhook)

    def test_it_retries_with_backoff_until_the_receiver_takes_it(self):
        self.receiver.respond(500, 503)
        now = timezone.now()
        self.raise_failing(now)
        delivery.deliver_due(now)
        failed = self.webhook_delivery()
        self.assertEqual((failed.status, failed.attempts), (DeliveryStatus.PENDING, 1))
        self.assertIn("answered HTTP 500", failed.last_error)
        delivery.deliver_due(now + dt.timedelta(seconds=30))
        self.assertEqual(len(self.hooks()), 1, "not due yet")
        delivery.deliver_due(now + dt.timedelta(minutes=1))
        delivery.deliver_due(now + dt.timedelta(minutes=7))
        sent = self.webhook_delivery()
        self.assertEqual((sent.status, sent.attempts, sent.last_error), ("sent", 3, ""))
        self.assertEqual(len(self.hooks()), 3)
        self.assertEqual(len({hook["id"] for hook in self.hooks()}), 1, "one alert, three tries")
        delivery.deliver_due(now + dt.timedelta(days=2))
        self.assertEqual(len(self.hooks()), 3)

    def test_it_gives_up_after_the_last_attempt(self):
        self.receiver.respond(*[500] * delivery.MAX_ATTEMPTS)
        now = timezone.now()
        self.raise_failing(now)
        for day in range(delivery.MAX_ATTEMPTS + 2):
            delivery.deliver_due(now + dt.timedelta(days=day))
        failed = self.webhook_delivery()
        self.assertEqual((failed.status, failed.attempts), ("failed", delivery.MAX_ATTEMPTS))

    def test_it_never_follows_a_redirect(self):
        self.receiver.respond(302)
        self.receiver.redirect_to = self.receiver.url("/elsewhere")
        now = timezone.now()
        self.raise_failing(now)
        delivery.deliver_due(now)
        self.assertEqual([r.path for r in self.receiver.requests].count("/elsewhere"), 0)
        self.assertIn("redirects are not followed", self.webhook_delivery().last_error)

    def test_it_never_contacts_a_denied_network(self):
        now = timezone.now()
        self.raise_failing(now)
        with override_settings(
            ZEKTOR_CHECK_DENY_NETWORKS=events_deny_loopback(), ZEKTOR_CHECK_ALLOW_LOOPBACK=False
        ):
            delivery.deliver_due(now)
        self.assertEqual(self.receiver.requests, [])
        self.assertIn("never contacts", self.webhook_delivery().last_error)
        self.assertEqual(len(self.smtp.messages), 1, "e-mail is not a webhook")

    def test_it_reports_mail_that_is_off(self):
        now = timezone.now()
        self.raise_failing(now)
        with override_settings(ZEKTOR_EMAIL_SERVER=None):
            delivery.deliver_due(now)
        self.assertIn("ZEKTOR_EMAIL_URL", Delivery.objects.get(channel=self.mail).last_error)

    def test_a_second_sender_never_sends_a_claimed_delivery(self):
        now = timezone.now()
        self.raise_failing(now)
        pending = self.webhook_delivery()
        self.assertTrue(delivery.claim(pending, now))
        self.assertFalse(delivery.claim(pending, now), "the same read, claimed twice")
        delivery.deliver_due(now)
        self.assertEqual(self.hooks(), [], "claimed elsewhere")
        delivery.deliver_due(now + delivery.LEASE + dt.timedelta(seconds=1))
        self.assertEqual(len(self.hooks()), 1, "a crashed sender's claim runs out")

    def test_a_test_alert_goes_to_one_channel_at_once(self):
        sent = configure.send_test(self.webhook, actor_name="test")
        self.assertEqual(sent.status, "sent")
        self.assertEqual(self.events(), [("test", "")])
        self.assertEqual(self.smtp.messages, [])
        self.assertTrue(AuditEvent.objects.filter(action="alert_test_sent", team=self.alpha))


def events_deny_loopback():
    from zektor_portal.env import DEFAULT_DENY_NETWORKS, Env

    return Env({"X": DEFAULT_DENY_NETWORKS}).networks("X", "")


class DigestTests(AlertTestCase):
    def test_it_sends_the_days_alerts_in_one_message(self):
        TeamAlertSettings.objects.create(team=self.alpha, daily_digest=True)
        now = timezone.now()
        delivery.raise_alert(self.alpha, self.pg, "failing", "fail", "alpha-pg fails", now=now)
        delivery.raise_alert(
            self.alpha, self.cache, "recovered", "ok", "alpha-cache works", now=now
        )
        self.assertFalse(Delivery.objects.exists(), "a digest team gets no single alerts")
        self.assertEqual(digest.send_due(now + dt.timedelta(minutes=1)), 1)
        self.assertEqual(digest.send_due(now + dt.timedelta(minutes=2)), 0, "once a day")
        delivery.deliver_due(now + dt.timedelta(minutes=2))
        [body] = self.hooks()
        self.assertEqual((body["event"], body["status"]), ("digest", "fail"))
        self.assertIn("2 alerts in the last day", body["message"])
        self.assertIn("alpha-cache works", body["message"])
        self.assertEqual(digest.send_due(now + dt.timedelta(days=1, minutes=2)), 0, "quiet day")


class RotationAndPasswordAgeTests(AlertTestCase):
    def rotation(self, state: str, **fields) -> Rotation:
        rotation = Rotation(instance=self.pg, state=state, **fields)
        rotation.seal("pending_sealed", "new-password-value")
        rotation.seal("old_sealed", TEST_PASSWORD)
        rotation.save()
        return rotation

    def sent_events(self) -> list[str]:
        delivery.deliver_due(timezone.now() + dt.timedelta(days=1))
        return [event for event, _ in self.events()]

    def test_a_failed_rotation_alerts_once(self):
        self.rotation(RotationState.NEEDS_ATTENTION, reason="The server refused the change.")
        events.observe_rotation(self.pg, timezone.now())
        events.observe_rotation(self.pg, timezone.now())
        self.assertEqual(self.sent_events(), ["rotation_failed"])
        self.assertIn("refused the change", self.hooks()[0]["message"])

    def test_a_rotation_that_stopped_moving_is_stuck(self):
        rotation = self.rotation(RotationState.APPLIED)
        now = timezone.now()
        events.observe_rotation(self.pg, now)
        self.assertEqual(self.sent_events(), [], "still young")
        Rotation.objects.filter(pk=rotation.pk).update(updated_at=now - dt.timedelta(hours=1))
        events.observe_rotation(self.pg, now)
        events.observe_rotation(self.pg, now)
        self.assertEqual(self.sent_events(), ["rotation_stuck"])
        Rotation.objects.filter(pk=rotation.pk).update(state=RotationState.NEEDS_ATTENTION)
        events.observe_rotation(self.pg, now)
        self.assertEqual(self.sent_events(), ["rotation_stuck", "rotation_failed"])

    def test_a_password_older_than_the_policy_alerts_once(self):
        now = timezone.now()
        Instance.objects.filter(pk=self.pg.pk).update(created_at=now - dt.timedelta(days=100))
        self.pg.refresh_from_db()
        events.observe_password_age(self.pg, now)
        self.assertEqual(self.sent_events(), [], "no policy, no alert")
        TeamAlertSettings.objects.create(team=self.alpha, rotation_policy_days=90)
        events.observe_password_age(self.pg, now)
        events.observe_password_age(self.pg, now)
        self.assertEqual(self.sent_events(), ["password_overdue"])
        self.assertIn("100 days old", self.hooks()[0]["message"])
        AuditEvent.objects.create(action="rotation_promoted", instance=self.pg, team=self.alpha)
        events.observe_password_age(self.pg, now)
        state = AlertState.objects.get(instance=self.pg, topic="password_age")
        self.assertEqual(state.state, "ok")


class AddAlertChannelCommandTests(AlertTestCase):
    def test_it_adds_a_webhook_and_prints_its_secret_once(self):
        out, err, code = run_command(
            "add_alert_channel", "Alpha", webhook=self.receiver.url("/cli"), json=True
        )
        self.assertEqual(code, 0, err)
        report = json.loads(out)
        self.assertEqual(set(report), {"id", "team", "kind", "label", "signing_secret"})
        channel = self.alpha.alert_channels.get(uid=report["id"])
        self.assertEqual(channel.signing_secret, report["signing_secret"])
        self.assertNotIn(report["signing_secret"], channel.secret_sealed)
        self.assertNotIn("/cli", channel.url_sealed)
        event = AuditEvent.objects.get(action="alert_channel_added", detail__channel=report["id"])
        self.assertEqual(event.actor_name, "manage.py add_alert_channel")

    def test_it_adds_an_email_address(self):
        out, err, code = run_command("add_alert_channel", "Alpha", email="dba@alpha.example")
        self.assertEqual(code, 0, err)
        self.assertIn("dba@alpha.example", out)
        channel = self.alpha.alert_channels.get(email="dba@alpha.example")
        self.assertEqual(configure.send_test(channel).status, "sent")
        self.assertEqual(self.smtp.envelopes[-1][1], ["dba@alpha.example"])

    def test_it_refuses_bad_input_with_exit_2(self):
        before = self.alpha.alert_channels.count()
        for args, options in [
            (("No-Such-Team",), {"email": "a@b.example"}),
            (("Alpha",), {"email": "not an address"}),
            (("Alpha",), {"webhook": "file:///etc/passwd"}),
            (("Alpha",), {"webhook": "http://192.0.2.1/"}),
        ]:
            out, err, code = run_command("add_alert_channel", *args, **options)
            self.assertEqual(code, 2, (args, options, err))
            self.assertEqual(out, "")
        self.assertEqual(self.alpha.alert_channels.count(), before)


@pytest.mark.servers
class MonitorTests(AlertTestCase):
    def test_a_round_ends_due_grace_periods_checks_and_alerts(self):
        from instances.rotation import machine

        server = start_redis(name="redis-monitor")
        try:
            instance = instance_on(server, self.alpha, "grace-cache")
            rotation = machine.advance(machine.start(instance, grace_seconds=3600))
            self.assertEqual(rotation.state, RotationState.GRACE)
            Rotation.objects.filter(pk=rotation.pk).update(
                grace_until=timezone.now() - dt.timedelta(seconds=1)
            )
            TeamAlertSettings.objects.create(team=self.alpha, failure_threshold=1)
            _, err, code = run_command("monitor", iterations=1, interval=1)
        finally:
            server.stop()
        self.assertEqual(code, 0, err)
        rotation.refresh_from_db()
        self.assertEqual(rotation.state, RotationState.DONE)
        self.assertIn("ended 1 grace period", err)
        self.assertIn("stopped after 1 round", err)
        self.assertEqual(
            sorted(self.events()), [("failing", "alpha-cache"), ("failing", "alpha-pg")]
        )
        self.assertEqual(Instance.objects.get(name="grace-cache").last_check_status, "ok")

    def test_it_refuses_bad_options(self):
        for options in ({"interval": 0}, {"iterations": -1}, {"concurrency": 0}):
            self.assertEqual(run_command("monitor", **options)[2], 2, options)


@pytest.mark.django_db
def test_https_webhooks_check_the_host_name_on_the_vetted_address(
    test_ca, tmp_path, monkeypatch, settings
):
    """The socket goes to the vetted 127.0.0.1 while TLS verifies 'localhost' (SNI)."""
    from alerts.channels import DeliveryError
    from alerts.channels.http import post
    from instances import outbound
    from tests.receivers import HttpReceiver

    settings.ZEKTOR_CHECK_DENY_NETWORKS = ALLOW_LOOPBACK
    ca_file = tmp_path / "ca.pem"
    test_ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # the system store, for this test
    outbound.tls_context.cache_clear()
    good = HttpReceiver(tls=test_ca.issue_cert("localhost"))
    wrong = HttpReceiver(tls=test_ca.issue_cert("elsewhere.example"))
    try:
        post(f"https://localhost:{good.port}/hook", b"{}", {"Content-Type": "application/json"})
        assert [r.path for r in good.requests] == ["/hook"]
        assert good.requests[0].headers["Host"] == f"localhost:{good.port}"
        with pytest.raises(DeliveryError, match="TLS failed"):
            post(f"https://localhost:{wrong.port}/hook", b"{}", {})
        assert wrong.requests == []
    finally:
        good.stop()
        wrong.stop()
        outbound.tls_context.cache_clear()


class StoredSecretsTests(AlertTestCase):
    def test_webhook_urls_and_secrets_are_sealed_and_follow_key_rotation(self):
        from instances.crypto import generate_key_entry, key_id_of
        from instances.keyrotation import reseal_all
        from tests.test_no_plaintext import database_dump
        from zektor_portal.env import Env

        dump = database_dump()
        for secret in (self.secret, "s3cr3tpath", self.receiver.url("/hook")):
            self.assertNotIn(secret, dump)
        keys = Env({"K": generate_key_entry("k2")}).encryption_keys("K")
        with override_settings(ZEKTOR_ENCRYPTION_KEYS={**keys, **settings.ZEKTOR_ENCRYPTION_KEYS}):
            for _ in reseal_all():
                pass
            webhook = Channel.objects.get(pk=self.webhook.pk)
            self.assertEqual(key_id_of(webhook.secret_sealed), "k2")
            self.assertEqual(key_id_of(webhook.url_sealed), "k2")
            self.assertEqual(webhook.signing_secret, self.secret)
            self.assertEqual(Channel.objects.get(pk=self.slack.pk).secret_sealed, "")


@pytest.mark.django_db
@pytest.mark.parametrize("scheme", ["smtps", "smtp+tls"])
def test_mail_goes_over_tls_with_the_login_of_zektor_email_url(
    scheme, test_ca, tmp_path, monkeypatch, settings
):
    """ZEKTOR_EMAIL_URL as parsed at start, against a real TLS SMTP server that requires
    AUTH: implicit TLS (smtps) or STARTTLS (smtp+tls), the certificate checked."""
    from alerts.channels.email import Transport
    from alerts.delivery import message_of
    from tests.receivers import SmtpReceiver
    from zektor_portal.env import Env

    ca_file = tmp_path / "ca.pem"
    test_ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    login = ("alerts@zektor.test", "p@ss:w/rd %")
    smtp = SmtpReceiver(
        test_ca.issue_cert("localhost"), implicit_tls=scheme == "smtps", login=login
    )
    try:
        url = f"{scheme}://alerts%40zektor.test:p%40ss%3Aw%2Frd%20%25@localhost:{smtp.port}"
        settings.ZEKTOR_EMAIL_SERVER, settings.ZEKTOR_EMAIL_FROM = Env(
            {"ZEKTOR_EMAIL_URL": url, "ZEKTOR_EMAIL_FROM": "alerts@zektor.test"}
        ).email()
        team = Team.objects.create(name="Mail")
        channel, _ = configure.add_channel(team, "email", "ops@mail.example", actor_name="t")
        alert = delivery.raise_alert(team, None, "test", "ok", "over TLS", now=timezone.now())
        Transport(channel).send(message_of(alert))
    finally:
        smtp.stop()
    assert smtp.logins == ["alerts@zektor.test"]
    assert smtp.messages[0]["Subject"] == "[Zektor] Mail: test"


class BrokenChannelTests(AlertTestCase):
    def test_an_unexpected_error_in_a_channel_is_logged_not_raised(self):
        Channel.objects.filter(pk=self.slack.pk).update(url_sealed="zk1:gone:AAAA")
        now = timezone.now()
        delivery.raise_alert(self.alpha, self.pg, "failing", "fail", "alpha-pg fails", now=now)
        with self.assertLogs("alerts", "WARNING") as logs:
            self.assertEqual(delivery.deliver_due(now), (2, 1))
        error = Delivery.objects.get(channel=self.slack).last_error
        self.assertIn("URL of alert channel", error)
        self.assertIn("key id 'gone'", error)
        self.assertIn("failed (attempt 1)", "\n".join(logs.output))
        self.assertEqual(len(self.hooks()), 1, "the other channels still got it")
