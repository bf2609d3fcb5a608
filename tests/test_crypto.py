from __future__ import annotations

import base64
import io

import pytest
from django.core.management import call_command
from django.test import override_settings

from instances.crypto import DecryptionError, Keyring, generate_key_entry, key_id_of
from instances.keyrotation import reseal_all
from instances.models import Instance
from tests.base import TEST_PASSWORD, BaseTestCase, stored_password

OLD = {"test1": base64.b64decode("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")}
NEW_ENTRY = generate_key_entry("next")
NEW = {"next": base64.b64decode(NEW_ENTRY.split(":", 1)[1])}


def test_it_round_trips_any_text():
    ring = Keyring(OLD)
    for secret in ["", "plain", TEST_PASSWORD, "日本語 ü € 🙂", "x" * 5000]:
        assert ring.open(ring.seal(secret, "ctx"), "ctx") == secret


def test_it_uses_a_fresh_nonce_each_time():
    ring = Keyring(OLD)
    assert ring.seal("same", "ctx") != ring.seal("same", "ctx")


def test_it_refuses_a_ciphertext_from_another_context():
    ring = Keyring(OLD)
    token = ring.seal("secret", "instances.instance:a:password_sealed")
    with pytest.raises(DecryptionError, match="altered or belongs to another record"):
        ring.open(token, "instances.instance:b:password_sealed")


def test_it_detects_tampering():
    ring = Keyring(OLD)
    token = ring.seal("secret", "ctx")
    prefix, key_id, payload = token.split(":")
    raw = bytearray(base64.urlsafe_b64decode(payload))
    raw[-1] ^= 1
    tampered = f"{prefix}:{key_id}:{base64.urlsafe_b64encode(bytes(raw)).decode()}"
    with pytest.raises(DecryptionError, match="'test1'"):
        ring.open(tampered, "ctx")


def test_it_names_an_unknown_key_id():
    token = Keyring(NEW).seal("secret", "ctx")
    with pytest.raises(DecryptionError, match="key id 'next' is not in ZEKTOR_ENCRYPTION_KEYS"):
        Keyring(OLD).open(token, "ctx")


@pytest.mark.parametrize(
    "garbage", ["", "plaintext", "zk1:test1:", "zk1:test1:@@@", "zk1:test1:AAAA"]
)
def test_it_refuses_garbage_clearly(garbage):
    with pytest.raises(DecryptionError):
        Keyring(OLD).open(garbage, "ctx")


def test_it_encrypts_with_the_first_key_and_decrypts_with_any():
    token = Keyring(OLD).seal("secret", "ctx")
    both = Keyring({**NEW, **OLD})
    assert both.primary_id == "next"
    assert both.open(token, "ctx") == "secret"
    assert key_id_of(both.seal("secret", "ctx")) == "next"


class StoredSecretTests(BaseTestCase):
    def test_it_stores_no_plaintext(self):
        raw = Instance.objects.filter(pk=self.pg.pk).values_list("password_sealed", flat=True)[0]
        assert raw.startswith("zk1:test1:")
        assert TEST_PASSWORD not in raw
        assert stored_password(self.pg) == TEST_PASSWORD

    def test_it_refuses_a_ciphertext_copied_to_another_row(self):
        Instance.objects.filter(pk=self.cache.pk).update(password_sealed=self.pg.password_sealed)
        with pytest.raises(DecryptionError, match=str(self.cache.uid)):
            _ = stored_password(self.cache)


class KeyRotationTests(BaseTestCase):
    def rotate(self) -> str:
        out = io.StringIO()
        call_command("rotate_encryption_key", stdout=out)
        return out.getvalue()

    def test_it_reencrypts_everything_under_the_new_primary(self):
        with override_settings(ZEKTOR_ENCRYPTION_KEYS={**NEW, **OLD}):
            assert "re-encrypted 3 secret(s) under key 'next'" in self.rotate()
            assert "re-encrypted 0 secret(s)" in self.rotate()
        tokens = Instance.objects.values_list("password_sealed", flat=True)
        assert all(key_id_of(t) == "next" for t in tokens)
        with override_settings(ZEKTOR_ENCRYPTION_KEYS=NEW):  # the old key can now go
            assert all(stored_password(i) == TEST_PASSWORD for i in Instance.objects.all())

    def test_it_resumes_after_an_interruption(self):
        with override_settings(ZEKTOR_ENCRYPTION_KEYS={**NEW, **OLD}):
            next(reseal_all())  # one row re-sealed, then the process "dies"
            keys = [
                key_id_of(t) for t in Instance.objects.values_list("password_sealed", flat=True)
            ]
            assert sorted(keys) == ["next", "test1", "test1"]
            assert "re-encrypted 2 secret(s)" in self.rotate()
        with override_settings(ZEKTOR_ENCRYPTION_KEYS=NEW):
            assert all(stored_password(i) == TEST_PASSWORD for i in Instance.objects.all())

    def test_it_reports_unreadable_secrets_and_fails(self):
        Instance.objects.filter(pk=self.cache.pk).update(password_sealed=self.pg.password_sealed)
        with override_settings(ZEKTOR_ENCRYPTION_KEYS={**NEW, **OLD}):
            with pytest.raises(Exception, match="1 secret"):
                self.rotate()
            assert stored_password(self.pg) == TEST_PASSWORD
