"""Hostile values, refused the same way by import_instances and Django admin (issue 12)."""

from __future__ import annotations

import importlib
import json
import time

import pytest
import trustme
import yaml
from django.apps import apps as django_apps
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from instances.models import Instance, Team
from instances.rotation import machine
from instances.validation import CA_CERT_MAX_BYTES, certificates_only
from tests.base import (
    CA_PEM,
    IMPORT_RECORD,
    TEST_PASSWORD,
    BaseTestCase,
    admin_form_data,
    stored_password,
)

RECORD = IMPORT_RECORD
KEY_PEM = trustme.CA().private_key_pem.bytes().decode()


def import_error(tmp_path, content: str, suffix: str = ".yaml") -> str:
    """The message of a refused import; asserts exit 2 and that nothing was stored."""
    path = tmp_path / f"instances{suffix}"
    path.write_text(content)
    with pytest.raises(CommandError) as error:
        call_command("import_instances", str(path))
    assert error.value.returncode == 2
    assert not Instance.objects.exists()
    assert not Team.objects.exists()
    return str(error.value)


def alias_bomb(levels: int) -> str:
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for level in range(1, levels + 1):
        previous = chr(ord("a") + level - 1)
        name = chr(ord("a") + level)
        lines.append(f"{name}: &{name} [{', '.join(['*' + previous] * 9)}]")
    record = dict(RECORD, engine="@")
    body = yaml.safe_dump({"instances": [record]}).replace("'@'", f"*{name}")
    return "\n".join(lines) + "\n" + body


def test_it_refuses_yaml_aliases_before_expanding_them(db, tmp_path):
    started = time.monotonic()
    message = import_error(tmp_path, alias_bomb(6))  # 9**7 strings if expanded
    assert time.monotonic() - started < 2
    assert "anchors and aliases" in message
    assert len(message) < 300


def test_it_refuses_even_one_harmless_alias(db, tmp_path):
    content = "x: &pw 'secret 1'\ninstances:\n" + yaml.safe_dump([RECORD], indent=2)
    message = import_error(tmp_path, content.replace(repr(TEST_PASSWORD), "*pw"))
    assert "line 1" in message


def test_it_refuses_files_over_5_mib_without_parsing_them(db, tmp_path):
    content = json.dumps([dict(RECORD, ca_cert="A" * (5 * 1024 * 1024))])
    message = import_error(tmp_path, content, ".json")
    assert "larger than 5 MiB" in message
    assert len(message) < 300


def test_it_reads_no_more_than_the_limit_from_an_endless_file(db):
    with pytest.raises(CommandError, match="larger than 5 MiB") as error:
        call_command("import_instances", "/dev/zero")
    assert error.value.returncode == 2


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
@pytest.mark.parametrize(
    "content", ['[{"port": %s}]' % ("1" * 5000), "[" * 100_000 + "]" * 100_000]
)
def test_it_refuses_numbers_and_nesting_python_cannot_read(db, tmp_path, content, suffix):
    message = import_error(tmp_path, content, suffix)
    assert "too long to read" in message or "nested too deeply" in message


@pytest.mark.parametrize(
    ("field", "value"),
    [("engine", "m" * 100_000), ("tier", ["gold"] * 1000), ("port", "5" * 10_000)],
)
def test_it_shows_a_short_value_or_its_type_in_messages(db, tmp_path, field, value):
    message = import_error(tmp_path, json.dumps([dict(RECORD, **{field: value})]), ".json")
    assert f"field '{field}'" in message
    assert len(message) < 300


@pytest.mark.parametrize("char", ["\t", "\x1b", "\n", "\r", "\x00", "\x7f", "\x85", "\ud800"])
@pytest.mark.parametrize("field", ["password", "username", "database", "team"])
def test_it_refuses_control_characters_in_every_text_field(db, tmp_path, field, char):
    value = f"ab{char}cd" if field != "password" else f"pass{char}word"
    message = import_error(tmp_path, json.dumps([dict(RECORD, **{field: value})]), ".json")
    assert f"record 1 (orders-db): field '{field}'" in message
    assert f"pass{char}word" not in message


@pytest.mark.parametrize(
    "password", [TEST_PASSWORD, "  spaces  around ", "ünïcødé ✓ 密码 \u2028", "`$(x)`\\'\"%"]
)
def test_it_keeps_accepting_any_printable_password(db, tmp_path, password):
    path = tmp_path / "ok.json"
    path.write_text(json.dumps([dict(RECORD, password=password)]))
    call_command("import_instances", str(path))
    assert stored_password(Instance.objects.get()) == password


@pytest.mark.parametrize(
    "host",
    ["::", "0.0.0.0", "::ffff:0.0.0.0", "::0.0.0.0", "64:ff9b::", "2002::", "::ffff:127.0.0.1"],
)
def test_it_refuses_unspecified_and_always_refused_hosts(db, tmp_path, host):
    message = import_error(tmp_path, json.dumps([dict(RECORD, host=host)]), ".json")
    assert f"field 'host': {host} is" in message
    assert "the portal never connects there" in message


@pytest.mark.parametrize("host", ["db.example.com", "10.0.0.5", "2001:db8::5", "127.0.0.1"])
def test_it_keeps_accepting_host_names_and_addresses(db, tmp_path, host):
    path = tmp_path / "ok.json"
    path.write_text(json.dumps([dict(RECORD, host=host)]))
    call_command("import_instances", str(path))
    assert Instance.objects.get().host == host


def test_it_refuses_a_ca_certificate_with_a_private_key(db, tmp_path):
    content = json.dumps([dict(RECORD, ca_cert=CA_PEM + KEY_PEM)])
    message = import_error(tmp_path, content, ".json")
    assert "field 'ca_cert'" in message and "private key" in message
    assert "MII" not in message


@pytest.mark.parametrize(
    "pem",
    [
        "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n",
        "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n",
        "just text",
        CA_PEM * (CA_CERT_MAX_BYTES // len(CA_PEM) + 1),
    ],
)
def test_it_refuses_anything_but_certificates_up_to_64_kib(db, tmp_path, pem):
    message = import_error(tmp_path, json.dumps([dict(RECORD, ca_cert=pem)]), ".json")
    assert "field 'ca_cert'" in message
    assert len(message) < 300


def test_it_stores_only_the_certificates_of_a_bundle(db, tmp_path):
    other = trustme.CA().cert_pem.bytes().decode()
    bundle = f"# Zektor private CA\n{CA_PEM}\nsome notes\n{other}"
    path = tmp_path / "ok.json"
    path.write_text(json.dumps([dict(RECORD, ca_cert=bundle)]))
    call_command("import_instances", str(path))
    assert Instance.objects.get().ca_cert == CA_PEM + other
    assert certificates_only(CA_PEM + other) == CA_PEM + other


class AdminFormTests(BaseTestCase):
    """The admin's instance form runs the same validators as the importer."""

    def setUp(self):
        self.client.force_login(User.objects.create_superuser("root", password="password"))

    def post(self, **overrides):
        url = reverse("admin:instances_instance_change", args=[self.pg.pk])
        return self.client.post(url, admin_form_data(self.pg, **overrides))

    def errors(self, **overrides) -> dict:
        response = self.post(**overrides)
        self.assertEqual(response.status_code, 200)
        return response.context["adminform"].form.errors

    def test_it_refuses_control_characters_in_the_password(self):
        errors = self.errors(new_password="tab\there")
        self.assertIn("control character (U+0009, tab)", errors["new_password"][0])
        self.assertNotIn("tab\there", str(errors))

    def test_it_refuses_control_characters_in_text_fields(self):
        self.assertIn("username", self.errors(username="app\x1b[2J"))
        self.assertIn("database", self.errors(database="app\x00"))

    def test_it_refuses_a_private_key_in_the_ca_field(self):
        errors = self.errors(ca_cert=CA_PEM + KEY_PEM)
        self.assertIn("private key", errors["ca_cert"][0])
        self.pg.refresh_from_db()
        self.assertEqual(self.pg.ca_cert, "")

    def test_it_stores_the_ca_as_certificates_only(self):
        self.assertEqual(self.post(ca_cert=f"comment\n{CA_PEM}").status_code, 302)
        self.pg.refresh_from_db()
        self.assertEqual(self.pg.ca_cert, CA_PEM)

    def test_it_refuses_unspecified_hosts(self):
        errors = self.errors(host="::", new_password="pw again")
        self.assertIn("unspecified", errors["host"][0])

    def test_it_asks_for_the_password_before_the_host_port_or_team_changes(self):
        for change in ({"host": "evil.example.com"}, {"port": 6543}, {"team": self.beta.pk}):
            errors = self.errors(**change)
            self.assertIn("needs the password", errors["new_password"][0])
        self.pg.refresh_from_db()
        self.assertEqual(
            (self.pg.host, self.pg.port, self.pg.team),
            ("alpha-pg.db.zektor.example", 5432, self.alpha),
        )
        self.assertEqual(self.post(host="new.example.com", new_password="typed").status_code, 302)
        self.pg.refresh_from_db()
        self.assertEqual((self.pg.host, stored_password(self.pg)), ("new.example.com", "typed"))


class StoredCaTests(BaseTestCase):
    def test_the_migration_keeps_only_the_certificates_of_stored_cas(self):
        migration = importlib.import_module("instances.migrations.0004_issue12_validation")
        Instance.objects.filter(pk=self.pg.pk).update(ca_cert=f"{CA_PEM}{KEY_PEM}")
        Instance.objects.filter(pk=self.cache.pk).update(ca_cert=KEY_PEM)
        migration.keep_certificates_only(django_apps, None)
        self.pg.refresh_from_db()
        self.cache.refresh_from_db()
        self.assertEqual((self.pg.ca_cert, self.cache.ca_cert), (CA_PEM, ""))

    def test_ca_pem_never_serves_a_key_stored_before_validation(self):
        Instance.objects.filter(pk=self.pg.pk).update(ca_cert=f"{CA_PEM}{KEY_PEM}")
        self.client.force_login(self.viewer)
        response = self.client.get(reverse("instance-ca", args=["alpha-pg"]))
        self.assertEqual(response.status_code, 409)
        self.assertNotIn(b"PRIVATE KEY", response.content)
        self.assertIn(b"paste the CA", response.content)

    def test_a_rotation_refuses_the_same_characters(self):
        for bad in ("new-password\t123", "new-password\x85123", "new-password\ud800123"):
            with self.assertRaises(machine.RotationRefused):
                machine.start(self.pg, new_password=bad)
        self.assertFalse(self.pg.rotations.exists())
