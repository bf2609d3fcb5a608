from __future__ import annotations

import html
import re
from pathlib import Path

from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from instances.highlight import stylesheet
from instances.models import Engine, Instance
from instances.snippets import MASK, SNIPPET_IDS, build_snippets
from instances.views.snippet_panels import masked_panels
from tests.base import TEST_PASSWORD, BaseTestCase, make_instance
from tests.leaks import leaked_forms

CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"


class SettingsTabTests(BaseTestCase):
    def setUp(self) -> None:
        cache.clear()

    def page(self, user, instance=None, **params) -> str:
        self.client.force_login(user)
        url = reverse("instance-settings", args=[(instance or self.pg).name])
        response = self.client.get(url, params)
        self.assertEqual(response.status_code, 200)
        return response.content.decode()

    def test_it_shows_the_connection_details_to_every_role(self):
        for user in (self.admin, self.member, self.viewer):
            with self.subTest(user=user.username):
                html = self.page(user)
                for label in ("Host", "Port", "Username", "Password", "Database name"):
                    self.assertIn(f">{label}</dt>", html)
                self.assertIn(">Connection string URI</dt>", html)
                self.assertIn("alpha-pg.db.zektor.example", html)
                self.assertIn(f'id="field-password" class="field-value masked">{MASK}<', html)
                self.assertIn(f"postgresql://app:{MASK}@alpha-pg.db.zektor.example", html)
                self.assertIn('data-copy-target="field-host"', html)
                self.assertEqual(leaked_forms(html, TEST_PASSWORD), [])

    def test_it_offers_reveal_and_audited_copy_only_to_members_and_admins(self):
        reveal = reverse("instance-reveal", args=["alpha-pg"])
        for user, allowed in ((self.admin, True), (self.member, True), (self.viewer, False)):
            with self.subTest(user=user.username):
                html = self.page(user)
                self.assertEqual(f'action="{reveal}"' in html, allowed)
                self.assertEqual('data-copy-secret="password"' in html, allowed)
                self.assertEqual('data-copy-secret="uri"' in html, allowed)

    def test_it_has_no_database_name_for_valkey(self):
        html = self.page(self.viewer, self.cache)
        self.assertNotIn("Database name", html)
        self.assertIn(f"rediss://default:{MASK}@alpha-cache.db.zektor.example:6379", html)

    def test_it_is_404_for_another_team_and_405_for_post(self):
        self.client.force_login(self.outsider)
        url = reverse("instance-settings", args=["alpha-pg"])
        self.assertEqual(self.client.get(url).status_code, 404)
        self.client.force_login(self.member)
        self.assertEqual(self.client.post(url).status_code, 405)

    def test_it_renders_one_highlighted_panel_per_snippet_with_a_picker(self):
        for instance in (self.pg, self.cache):
            with self.subTest(engine=instance.engine):
                html = self.page(self.member, instance)
                self.assertIn('<select id="snippet-language" data-snippet-picker>', html)
                self.assertIn('<label for="snippet-language">Language</label>', html)
                self.assertIn(f'data-snippets data-engine="{instance.engine}"', html)
                for snippet_id in SNIPPET_IDS[instance.engine]:
                    self.assertIn(f'<option value="{snippet_id}">', html)
                    self.assertIn(f'data-snippet-id="{snippet_id}"', html)
                    target = "file1-code" if snippet_id == "prisma" else "code"
                    self.assertIn(f'data-copy-target="snippet-{snippet_id}-{target}"', html)
                for ecosystem in ("Command line", "Node.js", "Python", "Go", "PHP", "Ruby"):
                    self.assertIn(f'<optgroup label="{ecosystem}">', html)
                self.assertEqual(html.count('class="snippet"'), len(SNIPPET_IDS[instance.engine]))
                self.assertIn('<span class="', html)
                self.assertIn(">Resilience</h4>", html)
                self.assertIn("css/pygments.css", html)
                self.assertNotIn("style=", html)
                self.assertNotIn("<script>", html)
                self.assertIn(MASK, html)

    def test_it_shows_each_file_of_a_multi_file_snippet_masked_with_its_copy_button(self):
        html = self.page(self.member)
        prisma = html.split('data-snippet-id="prisma"')[1].split("</article>")[0]
        files = ["prisma/schema.prisma", "prisma.config.ts", ".env", "src/db.ts"]
        for number, filename in enumerate(files, start=1):
            self.assertIn(f'data-snippet-file="{filename}"', prisma)
            self.assertIn(f"<code>{filename}</code></h4>", prisma)
            self.assertIn(f'data-copy-target="snippet-prisma-file{number}-code"', prisma)
            self.assertIn(f'id="snippet-prisma-file{number}-code"', prisma)
        env_block = prisma.split('id="snippet-prisma-file3-code"')[1].split("</pre>")[0]
        self.assertIn(MASK, env_block)
        self.assertNotIn("pa%27ss", prisma)
        self.assertIn("4 files", prisma)
        self.assertIn('data-copy-target="snippet-prisma-resilience-code"', prisma)

    def test_it_offers_the_private_ca_and_names_its_file(self):
        make_instance(self.alpha, "alpha-private", ca_cert=CA_PEM)
        html = self.page(self.viewer, make_instance(self.alpha, "alpha-ca", ca_cert=CA_PEM))
        self.assertIn(reverse("instance-ca", args=["alpha-ca"]), html)
        self.assertIn("<code>alpha-ca-ca.pem</code>", html)
        self.assertIn("sslrootcert=alpha-ca-ca.pem", html)
        self.assertIn("publicly trusted", self.page(self.viewer))

    def test_it_shows_every_tier_and_highlights_the_current_one(self):
        html = self.page(self.viewer)
        for tier, connections in (("Starter", 25), ("Standard", 50), ("Pro", 100)):
            self.assertIn(f"{tier}", html)
            self.assertIn(f"<td>{connections}</td>", html)
        self.assertIn("<td>200</td>", html)
        self.assertEqual(html.count('class="current-tier"'), 1)
        current = html.split('class="current-tier"')[1].split("</tr>")[0]
        self.assertIn("Standard", current)
        self.assertIn(f"<strong>{self.pg.limits.pool_size}</strong>", html)

    def test_it_recommends_pgbouncer_when_the_pool_does_not_fit(self):
        fits = self.pg.limits.processes_that_fit
        html = self.page(self.viewer, processes=fits + 1)
        self.assertIn("Recommendation: use PgBouncer", html)
        self.assertIn("Pro tier", html)
        html = self.page(self.viewer, processes=fits)
        self.assertNotIn("Recommendation: use PgBouncer", html)
        self.assertIn("That fits the Standard tier", html)
        self.assertIn("Enter a whole number", self.page(self.viewer, processes="many"))

    def test_it_gives_valkey_pool_advice_without_pgbouncer(self):
        html = self.page(self.viewer, self.cache, processes=10_000)
        self.assertIn("maxclients", html)
        self.assertNotIn("PgBouncer", html)

    def test_it_gives_resilience_advice_per_engine(self):
        html = self.page(self.viewer)
        for advice in (
            "statement_timeout",
            "idle_in_transaction_session_timeout",
            "options=-c%20statement_timeout%3D60000",
            "57P01",
            "exponential backoff",
            "connection refused",
        ):
            self.assertIn(advice, html)
        html = self.page(self.viewer, self.cache)
        for advice in ("Reconnect with backoff", "maxclients", "timeout"):
            self.assertIn(advice, html)

    def test_it_runs_a_constant_number_of_queries(self):
        self.client.force_login(self.member)
        make_instance(self.alpha, "alpha-ca", ca_cert=CA_PEM)
        for name in ("alpha-pg", "alpha-cache", "alpha-ca"):
            # the fifth query: the alert state shown in the page header
            with self.subTest(name=name), self.assertNumQueries(5):
                self.client.get(reverse("instance-settings", args=[name]))
        for n in range(5):
            make_instance(self.alpha, f"extra-{n}", Engine.VALKEY)
        with self.assertNumQueries(5):
            self.client.get(reverse("instance-settings", args=["alpha-pg"]), {"processes": 9})

    def test_it_links_to_the_team_onboarding_page(self):
        html = self.page(self.viewer)
        self.assertIn(reverse("team-onboarding", args=[self.alpha.pk]), html)

    def test_it_needs_a_login(self):
        response = Client().get(reverse("instance-settings", args=["alpha-pg"]))
        self.assertEqual(response.status_code, 302)


def test_it_ships_the_generated_pygments_stylesheet():
    shipped = Path(__file__).resolve().parent.parent / "static" / "css" / "pygments.css"
    css = shipped.read_text()
    assert css == stylesheet()
    assert "@media (prefers-color-scheme: dark)" in css


def text_of(highlighted: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", highlighted))


def test_it_highlights_masked_snippets_to_exactly_their_text():
    odd = {
        "name": "odd_name-1",
        "host": "fe80::1",
        "username": "we'ird \"us$er\\ <%= x %> zq7host",
        "database": "db zq7db/%20ü",
        "port": 15432,
    }
    instances = [
        Instance(
            engine="postgresql",
            tier="pro",
            host="h.example",
            port=5432,
            name="plain",
            username="app",
            database="app",
            sslmode="verify-full",
            ca_cert="x",
        ),
        Instance(engine="postgresql", tier="starter", **odd),
        Instance(
            engine="valkey",
            tier="business",
            host="cache.example",
            port=6379,
            name="c",
            username="default",
            tls=False,
        ),
        Instance(engine="valkey", tier="pro", ca_cert="x", **{**odd, "database": ""}),
    ]
    for instance in instances:
        snippets = build_snippets(instance)
        for panel, snippet in zip(masked_panels(instance), snippets, strict=True):
            assert text_of(panel.code_html) == snippet.code, snippet.id
            assert '<span class="' in panel.code_html or snippet.language == "text"
            if snippet.resilience:
                assert text_of(panel.resilience_html or "") == snippet.resilience, snippet.id
