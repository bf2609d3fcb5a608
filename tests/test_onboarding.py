from __future__ import annotations

import io

from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from dotenv import dotenv_values

from instances.escaping import phpdotenv_value
from instances.models import AuditEvent, Engine
from instances.snippets import MASK, SNIPPET_IDS, connection_uri
from instances.views.onboarding import INSTALL_COMMANDS
from tests.base import TEST_PASSWORD, BaseTestCase, make_instance
from tests.leaks import leaked_forms, seal_under_missing_key

HOSTILE = "p'a\"s\\s\\n $HOME `id` ${X} %20 <%= 1 %> @:/?#%&=+;|<>{}[]~!* \u00fc\u20ac"


class OnboardingTests(BaseTestCase):
    def setUp(self) -> None:
        cache.clear()
        self.url = reverse("team-onboarding", args=[self.alpha.pk])
        self.env_url = reverse("team-env", args=[self.alpha.pk])

    def page(self, user, **params) -> str:
        self.client.force_login(user)
        response = self.client.get(self.url, params)
        self.assertEqual(response.status_code, 200)
        return response.content.decode()

    def download(self, user):
        self.client.force_login(user)
        return self.client.post(self.env_url, REMOTE_ADDR="198.51.100.4")

    def test_it_shows_every_team_instance_masked_to_every_role(self):
        for user in (self.admin, self.member, self.viewer):
            with self.subTest(user=user.username):
                html = self.page(user)
                self.assertIn("alpha-pg", html)
                self.assertIn("alpha-cache", html)
                self.assertNotIn("beta-pg", html)
                self.assertIn("<code>ZEKTOR_ALPHA_PG_URL</code>", html)
                self.assertIn("<code>ZEKTOR_ALPHA_CACHE_URL</code>", html)
                self.assertIn(MASK, html)
                self.assertIn(reverse("instance-check", args=["alpha-pg"]), html)
                self.assertIn(reverse("instance-check", args=["alpha-cache"]), html)
                self.assertEqual(leaked_forms(html, TEST_PASSWORD), [])
                self.assertEqual(f'action="{self.env_url}"' in html, user != self.viewer)

    def test_it_is_404_outside_the_team(self):
        self.client.force_login(self.outsider)
        self.assertEqual(self.client.get(self.url).status_code, 404)
        self.assertEqual(self.client.post(self.env_url).status_code, 404)
        missing = reverse("team-onboarding", args=[9999])
        self.assertEqual(self.client.get(missing).status_code, 404)

    def test_it_shows_the_chosen_language_for_every_instance(self):
        html = self.page(self.member, language="psycopg")
        self.assertIn('<option value="psycopg" selected>', html)
        self.assertIn('data-snippet-id="psycopg"', html)
        self.assertIn('data-snippet-id="redis-py"', html)
        self.assertIn("pip install &quot;psycopg[binary]&quot;", html)
        self.assertEqual(html.count('class="snippet"'), 2)

    def test_it_falls_back_to_the_uri(self):
        for params in ({}, {"language": "nonsense"}):
            html = self.page(self.member, **params)
            self.assertEqual(html.count('data-snippet-id="uri"'), 2)
        html = self.page(self.member, language="prisma")
        self.assertIn('data-snippet-id="prisma"', html)
        self.assertEqual(html.count('class="snippet"'), 2)

    def test_it_downloads_a_dotenv_with_one_url_per_instance(self):
        hostile = make_instance(self.alpha, "alpha_hostile-2", Engine.VALKEY, password=HOSTILE)
        response = self.download(self.member)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["Content-Disposition"], 'attachment; filename=".env"')
        self.assertIn("no-store", response["Cache-Control"])
        values = dotenv_values(stream=io.StringIO(response.content.decode()))
        self.assertEqual(
            values,
            {
                "ZEKTOR_ALPHA_CACHE_URL": connection_uri(self.cache, TEST_PASSWORD),
                "ZEKTOR_ALPHA_HOSTILE_2_URL": connection_uri(hostile, HOSTILE),
                "ZEKTOR_ALPHA_PG_URL": connection_uri(self.pg, TEST_PASSWORD),
            },
        )
        events = AuditEvent.objects.order_by("instance_name")
        self.assertEqual([e.action for e in events], ["env_download"] * 3)
        self.assertEqual(
            [e.instance_name for e in events], ["alpha-cache", "alpha-pg", "alpha_hostile-2"]
        )
        self.assertEqual(
            {(e.actor, e.client_address) for e in events}, {(self.member, "198.51.100.4")}
        )
        for event in events:
            self.assertEqual(leaked_forms(repr(event.__dict__), TEST_PASSWORD), [])

    def test_it_groups_the_languages_and_offers_every_snippet(self):
        html = self.page(self.member)
        for ecosystem in ("Command line", "Node.js", "Python", "Go", "Java", "PHP", "Ruby"):
            self.assertIn(f'<optgroup label="{ecosystem}">', html)
        for ids in SNIPPET_IDS.values():
            for snippet_id in set(ids) - {"uri"}:
                self.assertIn(f'<option value="{snippet_id}">', html)
                self.assertIn(snippet_id, INSTALL_COMMANDS)
        html = self.page(self.member, language="jdbc")
        self.assertIn('data-snippet-id="jdbc"', html)
        self.assertIn('data-snippet-id="uri"', html)  # no Java snippet for Valkey here
        self.assertIn('<input type="hidden" name="language" value="jdbc">', html)

    def test_it_adds_each_part_to_the_dotenv_for_clients_that_take_the_password_apart(self):
        self.client.force_login(self.member)
        response = self.client.post(self.env_url, {"language": "php-pdo"})
        content = response.content.decode()
        # phpdotenv's quoting (\$ for $), which the laravel client test reads with phpdotenv.
        self.assertIn(f"ZEKTOR_ALPHA_PG_PASSWORD={phpdotenv_value(TEST_PASSWORD)}\n", content)
        values = dotenv_values(stream=io.StringIO(content))
        self.assertEqual(values["ZEKTOR_ALPHA_PG_DATABASE"], "app")
        self.assertEqual(values["ZEKTOR_ALPHA_CACHE_USERNAME"], "default")
        self.assertEqual(values["ZEKTOR_ALPHA_CACHE_PORT"], "6379")
        self.assertNotIn("ZEKTOR_ALPHA_CACHE_DATABASE", values)
        self.assertEqual(values["ZEKTOR_ALPHA_PG_URL"], connection_uri(self.pg, TEST_PASSWORD))

    def test_it_refuses_the_download_to_viewers(self):
        response = self.download(self.viewer)
        self.assertEqual(response.status_code, 403)
        self.assertEqual(leaked_forms(response.content, TEST_PASSWORD), [])
        self.assertFalse(AuditEvent.objects.exists())

    def test_it_only_accepts_a_post_with_csrf_for_the_download(self):
        self.client.force_login(self.admin)
        self.assertEqual(self.client.get(self.env_url).status_code, 405)
        self.assertEqual(self.client.post(self.url).status_code, 405)
        client = Client(enforce_csrf_checks=True)
        client.force_login(self.admin)
        self.assertEqual(client.post(self.env_url).status_code, 403)
        client.get(self.url)
        token = client.cookies["csrftoken"].value
        self.assertEqual(client.post(self.env_url, {"csrfmiddlewaretoken": token}).status_code, 200)

    def test_it_names_the_instance_it_cannot_decrypt(self):
        seal_under_missing_key(self.cache)
        response = self.download(self.member)
        self.assertEqual(response.status_code, 200)
        self.assertNotIn("Content-Disposition", response)
        content = response.content.decode()
        self.assertIn("The password of alpha-cache could not be decrypted", content)
        self.assertEqual(leaked_forms(content, TEST_PASSWORD), [])

    def test_it_runs_a_bounded_number_of_queries(self):
        self.client.force_login(self.viewer)
        with self.assertNumQueries(4):
            self.client.get(self.url)
