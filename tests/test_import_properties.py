"""Property tests of import_instances: whatever the file holds, the command either imports
valid instances or exits 2 with a short message and changes nothing. Never a traceback."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import trustme
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from instances.models import AuditEvent, Instance, Team
from tests.base import CA_PEM, IMPORT_RECORD

EXAMPLES = settings(
    max_examples=300,
    deadline=None,
    database=None,  # nothing written next to the clone
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MESSAGE_MAX = 600
KEY_PEM = trustme.CA().private_key_pem.bytes().decode()

VALID = IMPORT_RECORD
odd_text = st.text(
    alphabet=st.characters(codec="utf-8", categories=None, exclude_categories=()), max_size=80
) | st.sampled_from(
    ["", " ", "\u2028", "\u202e", "\ufeff", "\ud800", "a\tb", "\x1b[2J", "\U0001d518"]
)
hostile_hosts = (
    st.sampled_from(
        [
            "::",
            "0.0.0.0",
            "::ffff:0.0.0.0",
            "::0.0.0.0",
            "64:ff9b::",
            "2002::",
            "0",
            "[::1]",
            "fe80::1%eth0",
            "host\x00name",
            "a" * 300,
            "xn--pple-43d.com",
            "\uff41\uff50\uff50\uff4c\uff45.com",  # full-width letters
            ".",
            "-leading.example",
        ]
    )
    | odd_text
)
pems = (
    st.sampled_from(
        [
            CA_PEM + KEY_PEM,
            KEY_PEM,
            CA_PEM.replace("M", "m", 3),
            CA_PEM[: len(CA_PEM) // 2],
            "-----BEGIN CERTIFICATE-----\n" + "A" * 70_000 + "\n-----END CERTIFICATE-----\n",
            CA_PEM * 40,
            "-----BEGIN X509 CRL-----\nMIIB\n-----END X509 CRL-----\n",
        ]
    )
    | odd_text
)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | odd_text
documents = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(max_size=10) | st.sampled_from(sorted(VALID)), children, max_size=5
        )
    ),
    max_leaves=20,
)


@st.composite
def hostile_records(draw) -> dict:
    record = dict(VALID)
    for field in draw(st.sets(st.sampled_from([*VALID, "port", "sslmode", "tls", "ca_cert"]))):
        record[field] = draw(
            {"host": hostile_hosts, "ca_cert": pems}.get(field, st.one_of(odd_text, documents))
        )
    return record


class ImportPropertyTests(TestCase):
    folder: tempfile.TemporaryDirectory[str]

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.folder = tempfile.TemporaryDirectory()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.folder.cleanup()
        super().tearDownClass()

    def run_import(self, content: str, suffix: str) -> None:
        """Exit 0, or exit 2 with a short message and not a row changed."""
        path = Path(self.folder.name) / f"instances{suffix}"
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
        before = self.snapshot()
        try:
            call_command("import_instances", str(path), stdout=_Sink(), stderr=_Sink())
        except CommandError as error:
            assert error.returncode == 2
            assert len(str(error)) < MESSAGE_MAX, str(error)[:200]
            assert self.snapshot() == before
            return
        for instance in Instance.objects.all():
            instance.full_clean(exclude=["password_sealed", "uid"])
            assert "PRIVATE KEY" not in instance.ca_cert

    def snapshot(self) -> tuple:
        return (
            list(Instance.objects.order_by("pk").values_list()),
            list(Team.objects.order_by("pk").values_list()),
            AuditEvent.objects.count(),
        )

    @EXAMPLES
    @given(document=documents, as_json=st.booleans())
    def test_random_documents(self, document, as_json):
        content = json.dumps(document) if as_json else yaml.safe_dump(document, allow_unicode=True)
        self.run_import(content, ".json" if as_json else ".yaml")

    @EXAMPLES
    @given(records=st.lists(hostile_records(), min_size=1, max_size=3), as_json=st.booleans())
    def test_hostile_records(self, records, as_json):
        # yaml.safe_dump writes anchors and aliases for a record listed twice.
        records = [*records, records[0]] if len(records) > 1 else records
        if as_json:
            self.run_import(json.dumps({"instances": records}), ".json")
        else:
            self.run_import(yaml.safe_dump(records, allow_unicode=True), ".yaml")

    @EXAMPLES
    @given(text=st.text(max_size=300), suffix=st.sampled_from([".yaml", ".json"]))
    def test_random_text(self, text, suffix):
        self.run_import(text, suffix)

    @EXAMPLES
    @given(
        field=st.sampled_from(sorted(VALID)),
        literal=st.sampled_from(["1" * 5000, "1e999", "-0", "0x1F", "0o17", "1_000", ".nan"]),
        as_json=st.booleans(),
    )
    def test_odd_number_literals(self, field, literal, as_json):
        text = json.dumps([VALID]) if as_json else yaml.safe_dump([VALID])
        value = (
            json.dumps(VALID[field])
            if as_json
            else yaml.safe_dump(VALID[field]).removesuffix("\n...\n")
        )
        self.run_import(text.replace(value, literal, 1), ".json" if as_json else ".yaml")


class _Sink:
    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass
