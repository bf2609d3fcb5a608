"""The alerts page: team admins add and remove channels, send a test alert, change the
settings; every change audited; alert state on the instance list and pages."""

from __future__ import annotations

import datetime as dt
import json

from django.urls import reverse
from django.utils import timezone

from alerts.models import AlertState, Channel, TeamAlertSettings
from instances.models import AuditEvent, Instance
from tests.test_alerts import AlertTestCase


class AlertPageTests(AlertTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.client.force_login(self.admin)
        self.page = reverse("team-alerts", args=[self.alpha.pk])

    def add(self, kind: str, target: str):
        url = reverse("alert-channel-add", args=[self.alpha.pk])
        return self.client.post(url, {"kind": kind, "target": target})

    def test_it_lists_channels_with_their_last_delivery(self):
        self.receiver.respond(500)
        self.client.post(reverse("alert-channel-test", args=[self.alpha.pk, self.webhook.uid]))
        response = self.client.get(self.page)
        self.assertContains(response, "answered HTTP 500")
        self.assertContains(response, "Send a test alert")
        self.assertContains(response, "ops@alpha.example")
        self.assertNotContains(response, "s3cr3tpath")
        self.assertNotContains(response, self.secret)

    def test_it_shows_a_new_webhooks_signing_secret_once(self):
        response = self.add("webhook", self.receiver.url("/new-hook"))
        self.assertEqual(response.status_code, 200)
        known = [self.webhook.pk, self.slack.pk, self.mail.pk]
        channel = Channel.objects.exclude(pk__in=known).get()
        secret = channel.signing_secret
        self.assertContains(response, secret)
        self.assertNotContains(self.client.get(self.page), secret)
        event = AuditEvent.objects.get(
            action="alert_channel_added", detail__channel=str(channel.uid)
        )
        self.assertEqual(event.actor, self.admin)
        self.assertNotIn(secret, json.dumps(event.detail))
        self.assertNotIn("new-hook", json.dumps(event.detail))

    def test_it_adds_an_email_channel(self):
        response = self.add("email", "oncall@alpha.example")
        self.assertRedirects(response, self.page)
        self.assertTrue(Channel.objects.filter(team=self.alpha, email="oncall@alpha.example"))

    def test_it_refuses_bad_targets_and_changes_nothing(self):
        before = Channel.objects.count()
        for kind, target in [
            ("email", "not-an-address"),
            ("webhook", "ftp://example.com/hook"),
            ("slack", "https://user:pw@hooks.example.com/x"),
            ("webhook", "http://192.0.2.10/latest"),  # denied in these tests
            ("webhook", "http://0.0.0.0:8000/"),  # always refused
            ("slack", "https://[::ffff:169.254.169.254]/latest"),  # metadata, as IPv6
            ("webhook", "http://0/"),  # 0.0.0.0 in the resolver's old numeric form
            ("webhook", "https://hooks.example.com:0/x"),
            ("webhook", "https://hooks.example.com:70000/x"),
            ("webhook", "http://exa mple.com/"),
            ("pager", "x"),
        ]:
            response = self.add(kind, target)
            self.assertEqual(response.status_code, 400, (kind, target))
            self.assertContains(response, 'class="error"', status_code=400)
        self.assertEqual(Channel.objects.count(), before)

    def test_it_removes_a_channel_and_audits_it(self):
        url = reverse("alert-channel-remove", args=[self.alpha.pk, self.mail.uid])
        self.assertRedirects(self.client.post(url), self.page)
        self.assertFalse(Channel.objects.filter(pk=self.mail.pk).exists())
        self.assertTrue(AuditEvent.objects.filter(action="alert_channel_removed", team=self.alpha))

    def test_it_sends_a_test_alert(self):
        url = reverse("alert-channel-test", args=[self.alpha.pk, self.mail.uid])
        response = self.client.post(url, follow=True)
        self.assertContains(response, "Test alert sent to ops@alpha.example")
        [mail] = self.smtp.messages
        self.assertIn("Test alert for team Alpha", mail.get_content())

    def test_another_teams_channel_is_not_found(self):
        channel = Channel.objects.create(
            team=self.beta, kind="email", email="b@beta.example", label="b@beta.example"
        )
        url = reverse("alert-channel-remove", args=[self.alpha.pk, channel.uid])
        self.assertEqual(self.client.post(url).status_code, 404)
        self.client.force_login(self.outsider)
        self.assertEqual(self.client.get(self.page).status_code, 404)

    def test_it_saves_settings_and_audits_the_change(self):
        url = reverse("alert-settings", args=[self.alpha.pk])
        data = {"failure_threshold": "3", "rotation_policy_days": "90", "daily_digest": "on"}
        self.assertRedirects(self.client.post(url, data), self.page)
        settings = TeamAlertSettings.objects.get(team=self.alpha)
        self.assertEqual(
            (settings.failure_threshold, settings.rotation_policy_days, settings.daily_digest),
            (3, 90, True),
        )
        event = AuditEvent.objects.get(action="alert_settings_changed")
        self.assertEqual(
            event.detail, {"failure_threshold": 3, "rotation_policy_days": 90, "daily_digest": True}
        )
        response = self.client.post(url, {"failure_threshold": "0"})
        self.assertEqual(response.status_code, 400)
        self.assertEqual(TeamAlertSettings.objects.get(team=self.alpha).failure_threshold, 3)

    def test_the_page_is_labelled_for_screen_readers(self):
        html = self.client.get(self.page).content.decode()
        for field in (
            "id_kind",
            "id_target",
            "id_failure_threshold",
            "id_rotation_policy_days",
            "id_daily_digest",
        ):
            self.assertIn(f'for="{field}"', html)
        self.assertIn('aria-describedby="id_target-help"', html)
        self.assertIn('id="id_target-help"', html)


class AlertStateDisplayTests(AlertTestCase):
    def setUp(self) -> None:
        super().setUp()
        now = timezone.now()
        AlertState.objects.create(
            instance=self.pg,
            topic="availability",
            state="failing",
            since=now,
            first_failure_at=dt.datetime(2026, 3, 4, 5, 6, tzinfo=dt.UTC),
        )
        Instance.objects.filter(pk=self.cache.pk).update(
            cert_not_after=now + dt.timedelta(days=9, hours=1)
        )

    def test_the_list_shows_failing_since_and_certificate_days_left(self):
        self.client.force_login(self.viewer)
        response = self.client.get(reverse("instance-list"))
        self.assertContains(response, "Failing since")
        self.assertContains(response, "2026-03-04 05:06")
        self.assertContains(response, "Certificate: 9 days left")
        self.assertNotContains(
            response, reverse("team-alerts", args=[self.alpha.pk]), msg_prefix="viewers get no link"
        )

    def test_the_instance_pages_show_the_alert_state(self):
        self.client.force_login(self.admin)
        self.assertContains(
            self.client.get(reverse("instance-settings", args=["alpha-pg"])), "Failing since"
        )
        response = self.client.get(reverse("instance-activity", args=["alpha-cache"]))
        self.assertContains(response, "Certificate: 9 days left")
        self.assertContains(response, reverse("team-alerts", args=[self.alpha.pk]))
