"""instances.snippets and the `snippets` command: contract ids, masking, TLS choices."""

from __future__ import annotations

import ast
import io
import json
from contextlib import redirect_stderr
from pathlib import Path

import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from instances.models import Engine
from instances.snippets import (
    ECOSYSTEMS,
    MASK,
    SNIPPET_IDS,
    SYSTEM_CA_BUNDLE,
    build_snippets,
    connection_details,
    connection_uri,
)
from tests.base import TEST_PASSWORD, BaseTestCase, make_instance

# The ids of ../shared/interface.md, old and further ones.
CONTRACT_IDS = {
    "postgresql": {
        "psql",
        "psql-uri",
        "uri",
        "node-pg",
        "psycopg2",
        "psycopg",
        "go-pgx",
        "prisma",
        "drizzle",
        "django",
        "laravel",
        "rails",
        "jdbc",
        "spring-boot",
        "php-pdo",
        "sqlalchemy",
        "asyncpg",
        "postgres-js",
    },
    "valkey": {
        "valkey-cli",
        "redis-cli",
        "uri",
        "ioredis",
        "redis-py",
        "go-redis",
        "bullmq",
        "node-redis",
        "phpredis",
        "redis-rb",
        "django-cache",
        "celery",
    },
}
CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def codes(instance, password=None) -> dict[str, str]:
    return {s.id: s.code for s in build_snippets(instance, password)}


class SnippetsTests(BaseTestCase):
    def test_it_offers_the_contract_ids_grouped_by_ecosystem(self):
        self.assertEqual({engine: set(ids) for engine, ids in SNIPPET_IDS.items()}, CONTRACT_IDS)
        for instance in (self.pg, self.cache):
            snippets = build_snippets(instance)
            self.assertEqual(tuple(s.id for s in snippets), SNIPPET_IDS[instance.engine])
            order = [ECOSYSTEMS.index(s.ecosystem) for s in snippets]
            self.assertEqual(order, sorted(order))

    def test_it_lists_every_snippet_in_the_readme(self):
        readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
        for instance in (self.pg, self.cache):
            for s in build_snippets(instance):
                self.assertIn(f"| `{s.id}` | {s.title} | {s.ecosystem} |", readme, s.id)
        self.assertIn(", ".join(ECOSYSTEMS), readme.replace("\n", " "))

    def test_it_lists_every_prisma_7_file(self):
        [prisma] = build_snippets(self.pg, TEST_PASSWORD, language="prisma")
        files = {f.filename: f.code for f in prisma.files}
        self.assertEqual(
            list(files), ["prisma/schema.prisma", "prisma.config.ts", ".env", "src/db.ts"]
        )
        self.assertEqual(files["src/db.ts"], prisma.code)
        self.assertNotIn("url", files["prisma/schema.prisma"].split("datasource")[1])
        self.assertIn('url: env("DATABASE_URL")', files["prisma.config.ts"])
        self.assertIn("new PrismaClient({ adapter })", prisma.code)
        self.assertIn("DATABASE_URL='postgresql://app:pa%27ss", files[".env"])
        self.assertEqual([s.files for s in build_snippets(self.pg) if s.id != "prisma"], [()] * 17)

    def test_it_masks_the_password_unless_given(self):
        for instance in (self.pg, self.cache):
            for snippet in build_snippets(instance):
                everything = [
                    snippet.code,
                    snippet.resilience or "",
                    *(f.code for f in snippet.files),
                ]
                self.assertIn(MASK, "".join(everything), snippet.id)
                for code in everything:
                    self.assertNotIn("pa'ss", code, snippet.id)
                    self.assertNotIn("pa%27ss", code, snippet.id)
            details = connection_details(instance, None)
            self.assertEqual(details["password"], MASK)
            self.assertIn(MASK, details["uri"])

    def test_it_renders_the_password_when_given(self):
        snippets = codes(self.pg, TEST_PASSWORD)
        self.assertIn("pa%27ss%22w%40rd%3A%2F%3F%23%25%24%C3%BC", snippets["uri"])
        self.assertIn('"pa\'ss\\"w@rd:/?#%$ü"', snippets["node-pg"])
        self.assertNotIn(MASK, "".join(snippets.values()))

    def test_it_filters_by_language(self):
        [snippet] = build_snippets(self.cache, language="redis-py")
        self.assertEqual(
            (snippet.id, snippet.language, snippet.filename), ("redis-py", "python", "cache.py")
        )
        with self.assertRaises(KeyError):
            build_snippets(self.cache, language="psql")

    def test_it_describes_the_connection_like_the_contract(self):
        details = connection_details(self.pg, "secret")
        self.assertEqual(
            details,
            {
                "host": "alpha-pg.db.zektor.example",
                "port": 5432,
                "username": "app",
                "password": "secret",
                "database": "app",
                "uri": connection_uri(self.pg, "secret"),
                "ca_file": None,
            },
        )
        self.assertEqual(
            details["uri"],
            "postgresql://app:secret@alpha-pg.db.zektor.example:5432/app?sslmode=require",
        )
        self.assertIsNone(connection_details(self.cache, "s")["database"])

    def test_it_uses_the_only_valkey_uri_every_client_reads(self):
        self.assertEqual(
            connection_uri(self.cache, "p@ss"),
            "rediss://default:p%40ss@alpha-cache.db.zektor.example:6379",
        )
        plain = make_instance(self.alpha, "plain-cache", Engine.VALKEY, tls=False)
        self.assertTrue(connection_uri(plain, "x").startswith("redis://default:x@"))
        snippets = codes(plain, "x")
        self.assertNotIn("--tls", snippets["redis-cli"])
        self.assertNotIn("tls", snippets["ioredis"])
        self.assertNotIn("ssl", snippets["redis-py"])
        self.assertNotIn("crypto/tls", snippets["go-redis"])

    def test_it_keeps_the_cli_password_in_the_environment(self):
        for snippet_id in ("redis-cli", "valkey-cli"):
            code = codes(self.cache, "x")[snippet_id]
            self.assertIn("REDISCLI_AUTH=x ", code)
            self.assertNotIn(" -a ", code)

    def test_it_references_a_private_ca_by_its_file_name(self):
        pg = make_instance(self.alpha, "ca-pg", sslmode="verify-full", ca_cert=CA_PEM)
        cache = make_instance(self.alpha, "ca-cache", Engine.VALKEY, ca_cert=CA_PEM)
        self.assertEqual(connection_details(pg, None)["ca_file"], "ca-pg-ca.pem")
        pg_codes, cache_codes = codes(pg), codes(cache)
        self.assertIn("sslrootcert=ca-pg-ca.pem", pg_codes["psql"])
        self.assertIn("sslrootcert=ca-pg-ca.pem", pg_codes["uri"])
        self.assertIn('ca: fs.readFileSync("ca-pg-ca.pem", "utf8")', pg_codes["node-pg"])
        self.assertIn("servername:", pg_codes["node-pg"])
        self.assertIn('ca: fs.readFileSync("ca-pg-ca.pem", "utf8")', pg_codes["prisma"])
        self.assertIn('props.setProperty("sslrootcert", "ca-pg-ca.pem")', pg_codes["jdbc"])
        self.assertIn("sslrootcert=ca-pg-ca.pem", pg_codes["spring-boot"])
        self.assertIn('"sslrootcert": "ca-pg-ca.pem"', pg_codes["sqlalchemy"])
        self.assertIn('create_default_context(cafile="ca-pg-ca.pem")', pg_codes["asyncpg"])
        self.assertIn(";sslrootcert=ca-pg-ca.pem'", pg_codes["php-pdo"])
        self.assertIn('"ssl_ca_certs": "ca-cache-ca.pem"', cache_codes["django-cache"])
        self.assertIn('"ssl_ca_certs": "ca-cache-ca.pem"', cache_codes["celery"])
        self.assertIn("'cafile' => 'ca-cache-ca.pem'", cache_codes["phpredis"])
        self.assertIn("ca_file: 'ca-cache-ca.pem'", cache_codes["redis-rb"])
        self.assertIn("--cacert ca-cache-ca.pem", cache_codes["redis-cli"])
        self.assertIn('ssl_ca_certs="ca-cache-ca.pem"', cache_codes["redis-py"])
        self.assertIn('os.ReadFile("ca-cache-ca.pem")', cache_codes["go-redis"])
        self.assertIn("x509.NewCertPool()", cache_codes["go-redis"])

    def test_it_uses_the_system_trust_store_without_a_private_ca(self):
        require = codes(self.pg)
        self.assertNotIn("sslrootcert", require["psql"])
        self.assertIn("rejectUnauthorized: false", require["node-pg"])
        self.assertIn("rejectUnauthorized: false", require["prisma"])
        self.assertIn('ssl="require"', require["asyncpg"])
        verify = codes(make_instance(self.alpha, "public-pg", sslmode="verify-ca"))
        self.assertIn(f"sslrootcert={SYSTEM_CA_BUNDLE}", verify["psql"])
        self.assertIn("checkServerIdentity: () => undefined", verify["node-pg"])
        self.assertNotIn("readFileSync", verify["node-pg"])
        self.assertIn("checkServerIdentity: () => undefined", verify["prisma"])
        self.assertIn("tls.check_hostname = False", verify["asyncpg"])
        self.assertIn(f'"sslrootcert", "{SYSTEM_CA_BUNDLE}"', verify["jdbc"])
        self.assertNotIn("sslrootcert=", verify["go-pgx"])
        self.assertNotIn("--cacert", codes(self.cache)["redis-cli"])

    def test_it_sizes_pools_from_the_tier(self):
        pool_size = self.pg.limits.pool_size
        resilience = {s.id: s.resilience or "" for s in build_snippets(self.pg)}
        self.assertIn(f"max: {pool_size},", codes(self.pg)["node-pg"])
        self.assertIn(f'"max_size": {pool_size}', resilience["django"])
        self.assertIn(f"max: {pool_size},", resilience["prisma"])
        self.assertIn(f"max_size={pool_size},", resilience["asyncpg"])
        self.assertIn(f"pool_size={pool_size},", resilience["sqlalchemy"])
        self.assertIn(f"maximum-pool-size={pool_size}", resilience["spring-boot"])
        self.assertIn(f"cfg.MaxConns = {pool_size}", resilience["go-pgx"])
        self.assertIn("57P01", resilience["node-pg"])
        self.assertIsNone({s.id: s.resilience for s in build_snippets(self.pg)}["uri"])

    def test_it_tells_laravel_users_to_read_db_sslmode(self):
        code = codes(self.pg)["laravel"]
        self.assertIn("'sslmode' => env('DB_SSLMODE', 'prefer')", code)
        self.assertIn("DB_SSLMODE=require", code)

    def test_it_renders_snippets_that_parse(self):
        for instance in (self.pg, self.cache):
            for snippet in build_snippets(instance, TEST_PASSWORD):
                for code in filter(None, (snippet.code, snippet.resilience)):
                    if snippet.language == "python":
                        ast.parse(code)
                    elif snippet.language == "yaml":
                        yaml.safe_load(code.replace("<%%", "<%"))
                    self.assertNotIn("\n\n\n\n", code, snippet.id)  # template slips
                    self.assertEqual(code, code.strip("\n"), snippet.id)


class SnippetsCommandTests(BaseTestCase):
    def test_it_prints_the_contract_json(self):
        out = io.StringIO()
        call_command("snippets", "alpha-cache", "--json", stdout=out)
        report = json.loads(out.getvalue())
        self.assertEqual(set(report), {"instance", "engine", "connection", "snippets"})
        self.assertEqual((report["instance"], report["engine"]), ("alpha-cache", "valkey"))
        self.assertEqual(report["connection"], connection_details(self.cache, TEST_PASSWORD))
        self.assertEqual([s["id"] for s in report["snippets"]], list(SNIPPET_IDS["valkey"]))
        for snippet in report["snippets"]:
            self.assertLessEqual({"id", "title", "language", "code", "filename"}, set(snippet))
            self.assertNotIn(MASK, snippet["code"])
            self.assertNotIn("files", snippet)

    def test_it_lists_files_in_json_for_multi_file_snippets(self):
        out = io.StringIO()
        call_command("snippets", "alpha-pg", "--json", "--language", "prisma", stdout=out)
        [snippet] = json.loads(out.getvalue())["snippets"]
        self.assertEqual(
            [(f["filename"], f["language"]) for f in snippet["files"]],
            [
                ("prisma/schema.prisma", "text"),
                ("prisma.config.ts", "typescript"),
                (".env", "bash"),
                ("src/db.ts", "typescript"),
            ],
        )
        self.assertEqual(snippet["files"][-1]["code"], snippet["code"])
        self.assertEqual(snippet["filename"], "src/db.ts")
        self.assertIn("pa%27ss", snippet["files"][2]["code"])

    def test_it_filters_json_by_language(self):
        out = io.StringIO()
        call_command("snippets", "alpha-pg", "--json", "--language", "psql", stdout=out)
        [snippet] = json.loads(out.getvalue())["snippets"]
        self.assertEqual(snippet["id"], "psql")

    def test_it_prints_readable_text(self):
        out = io.StringIO()
        call_command("snippets", "alpha-pg", "--language", "django", stdout=out)
        self.assertIn("Django — settings.py", out.getvalue())
        self.assertIn("DATABASES = {", out.getvalue())

    def test_it_prints_every_file_of_a_multi_file_snippet_as_text(self):
        out = io.StringIO()
        call_command("snippets", "alpha-pg", "--language", "prisma", stdout=out)
        text = out.getvalue()
        for header in ("-- prisma/schema.prisma", "-- prisma.config.ts", "-- .env"):
            self.assertIn(header, text)
        self.assertIn("DATABASE_URL='postgresql://app:pa%27ss", text)
        self.assertIn("new PrismaClient({ adapter })", text)

    def test_it_exits_2_for_unknown_instance_or_language(self):
        for args in (["nope"], ["alpha-pg", "--language", "ioredis"]):
            with self.assertRaises(CommandError) as raised, redirect_stderr(io.StringIO()):
                call_command("snippets", *args)
            self.assertEqual(raised.exception.returncode, 2)
