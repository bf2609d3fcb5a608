from __future__ import annotations

import io
import json

import pytest
import trustme
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from instances.models import AuditEvent, Instance, Team
from tests.base import IMPORT_RECORD, TEST_PASSWORD, BaseTestCase, stored_password

GOOD = [
    IMPORT_RECORD,
    {
        "name": "orders-cache",
        "engine": "valkey",
        "tier": "starter",
        "team": "Gamma",
        "host": "orders.cache.zektor.example",
        "password": "cache pass",
    },
]


class ImportTests(BaseTestCase):
    def import_file(self, tmp_name: str, content: str, *args: str) -> str:
        path = self.tmp / tmp_name
        path.write_text(content)
        out, err = io.StringIO(), io.StringIO()
        call_command("import_instances", str(path), *args, stdout=out, stderr=err)
        return out.getvalue() + err.getvalue()

    @pytest.fixture(autouse=True)
    def _tmp(self, tmp_path):
        self.tmp = tmp_path

    def snapshot(self) -> list[tuple]:
        return list(Instance.objects.order_by("name").values_list())

    def test_it_imports_yaml_lists_with_defaults(self):
        output = self.import_file("i.yaml", yaml.safe_dump(GOOD))
        assert "created 2" in output
        assert TEST_PASSWORD not in output
        db = Instance.objects.get(name="orders-db")
        assert (db.port, db.sslmode, db.team.name, stored_password(db)) == (
            5432,
            "verify-full",
            "Gamma",
            TEST_PASSWORD,
        )
        cache = Instance.objects.get(name="orders-cache")
        assert (cache.port, cache.username, cache.tls, cache.status) == (
            6379,
            "default",
            True,
            "active",
        )
        assert AuditEvent.objects.filter(action="import").exists()
        assert TEST_PASSWORD not in json.dumps(list(AuditEvent.objects.values("detail")))

    def test_it_imports_json_mappings_with_instances_key(self):
        output = self.import_file("i.json", json.dumps({"instances": GOOD}))
        assert "created 2" in output

    def test_it_upserts_by_name(self):
        self.import_file("i.yaml", yaml.safe_dump(GOOD))
        changed = [dict(GOOD[0], tier="business", password="new secret"), GOOD[1]]
        output = self.import_file("i.yaml", yaml.safe_dump(changed))
        assert "created 0, updated 1, unchanged 1" in output
        db = Instance.objects.get(name="orders-db")
        assert (db.tier, stored_password(db)) == ("business", "new secret")

    def test_it_keeps_the_password_when_an_update_leaves_it_out(self):
        self.import_file("i.yaml", yaml.safe_dump(GOOD))
        record = {k: v for k, v in GOOD[0].items() if k != "password"}
        self.import_file("i.yaml", yaml.safe_dump([dict(record, port=6432)]))
        db = Instance.objects.get(name="orders-db")
        assert (db.port, stored_password(db)) == (6432, TEST_PASSWORD)

    def test_it_changes_nothing_on_a_dry_run(self):
        before = self.snapshot()
        output = self.import_file("i.yaml", yaml.safe_dump(GOOD), "--dry-run")
        assert "would have created 2" in output
        assert self.snapshot() == before
        assert not Team.objects.filter(name="Gamma").exists()

    def test_it_accepts_a_ca_certificate(self):
        pem = trustme.CA().cert_pem.bytes().decode()
        self.import_file("i.yaml", yaml.safe_dump([dict(GOOD[0], ca_cert=pem)]))
        assert Instance.objects.get(name="orders-db").ca_file_name == "orders-db-ca.pem"


BAD_RECORDS = [
    ({"engine": "mysql"}, "record 1 (orders-db): field 'engine'"),
    ({"tier": "gold"}, "field 'tier'"),
    ({"port": 70000}, "field 'port'"),
    ({"port": "5432"}, "field 'port'"),
    ({"name": "Orders DB"}, "field 'name'"),
    ({"host": "bad host"}, "field 'host'"),
    ({"database": None}, "field 'database': is required"),
    ({"sslmode": "disable"}, "field 'sslmode'"),
    ({"status": "gone"}, "field 'status'"),
    ({"ca_cert": "not a pem"}, "field 'ca_cert'"),
    ({"password": ""}, "field 'password'"),
    ({"password": None}, "field 'password': is required for a new instance"),
    ({"tls": False}, "field 'tls'"),
    ({"colour": "red"}, "field 'colour': unknown field"),
]


@pytest.mark.parametrize(("change", "message"), BAD_RECORDS)
def test_it_rejects_bad_records_and_changes_nothing(db, tmp_path, change, message):
    record = {k: v for k, v in {**GOOD[0], **change}.items() if v is not None}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump([GOOD[1], record]).replace("orders-cache", "first-ok"))
    with pytest.raises(CommandError) as error:
        call_command("import_instances", str(path))
    assert error.value.returncode == 2
    assert message.replace("record 1", "record 2") in str(error.value)
    assert TEST_PASSWORD not in str(error.value)
    assert not Instance.objects.exists()
    assert not Team.objects.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not yaml: [", "not valid YAML"), ("just a string", "expected a list"), ("- 1", "record 1")],
)
def test_it_rejects_malformed_files(db, tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(CommandError, match=message):
        call_command("import_instances", str(path))


def test_it_exits_2_from_the_command_line(db, tmp_path):
    import subprocess
    import sys

    path = tmp_path / "bad.json"
    path.write_text('[{"name": "x"}]')
    result = subprocess.run(
        [sys.executable, "manage.py", "import_instances", str(path)],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        timeout=60,
    )
    assert result.returncode == 2
    assert "field 'engine'" in result.stderr
