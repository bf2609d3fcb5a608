"""The process refuses to start on bad configuration, with one line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from zektor_portal.env import ConfigError, Env

ROOT = Path(__file__).resolve().parent.parent
GOOD_KEY = "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
GOOD = {"ZEKTOR_SECRET_KEY": "x" * 40, "ZEKTOR_ENCRYPTION_KEYS": GOOD_KEY}
SSO = {
    "ZEKTOR_OIDC_ISSUER": "https://idp.example/realms/acme",
    "ZEKTOR_OIDC_CLIENT_ID": "zektor",
    "ZEKTOR_OIDC_CLIENT_SECRET": "s3cret",
}


def run_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ZEKTOR_", "DJANGO_"))}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**clean, "DATABASE_URL": "sqlite:///:memory:", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"ZEKTOR_ENCRYPTION_KEYS": GOOD_KEY}, "ZEKTOR_SECRET_KEY"),
        ({"ZEKTOR_SECRET_KEY": "x" * 40}, "ZEKTOR_ENCRYPTION_KEYS"),
        ({**GOOD, "ZEKTOR_ENCRYPTION_KEYS": "k1:notbase64!"}, "ZEKTOR_ENCRYPTION_KEYS"),
        ({**GOOD, "ZEKTOR_ENCRYPTION_KEYS": "k1:c2hvcnQ="}, "ZEKTOR_ENCRYPTION_KEYS"),
        ({**GOOD, "ZEKTOR_DEBUG": "maybe"}, "ZEKTOR_DEBUG"),
        ({**GOOD, "ZEKTOR_CHECK_TIMEOUT": "soon"}, "ZEKTOR_CHECK_TIMEOUT"),
        ({**GOOD, "ZEKTOR_CHECK_DENY_NETWORKS": "10.0.0.0/33"}, "ZEKTOR_CHECK_DENY_NETWORKS"),
        ({**GOOD, "DATABASE_URL": "mysql://x@y/z"}, "DATABASE_URL"),
        ({**GOOD, "REDIS_URL": "http://cache"}, "REDIS_URL"),
        ({**GOOD, "ZEKTOR_SECRET_KEY_FILE": "/nonexistent/key"}, "ZEKTOR_SECRET_KEY_FILE"),
        ({**GOOD, **SSO, "ZEKTOR_OIDC_ISSUER": "http://idp.example"}, "ZEKTOR_OIDC_ISSUER"),
        ({**GOOD, **SSO, "ZEKTOR_OIDC_ISSUER": "ftp://idp.example"}, "ZEKTOR_OIDC_ISSUER"),
        ({**GOOD, "ZEKTOR_OIDC_ISSUER": "https://idp.example"}, "ZEKTOR_OIDC_CLIENT_ID"),
        (
            {**GOOD, **SSO, "ZEKTOR_OIDC_CLIENT_SECRET_FILE": "/nonexistent"},
            "ZEKTOR_OIDC_CLIENT_SECRET",
        ),
        ({**GOOD, **SSO, "ZEKTOR_OIDC_TEAM_ROLES": "devs=Alpha"}, "ZEKTOR_OIDC_TEAM_ROLES"),
        ({**GOOD, **SSO, "ZEKTOR_OIDC_TEAM_ROLES": "devs=Alpha:owner"}, "ZEKTOR_OIDC_TEAM_ROLES"),
        ({**GOOD, "ZEKTOR_OIDC_TEAM_ROLES": "devs=Alpha:admin"}, "ZEKTOR_OIDC_TEAM_ROLES"),
        ({**GOOD, **SSO, "ZEKTOR_OIDC_SCOPES": "profile email"}, "ZEKTOR_OIDC_SCOPES"),
        ({**GOOD, "ZEKTOR_LOCAL_LOGIN": "false"}, "ZEKTOR_LOCAL_LOGIN"),
        ({**GOOD, "ZEKTOR_LOCAL_LOGIN": "sometimes"}, "ZEKTOR_LOCAL_LOGIN"),
        ({**GOOD, "ZEKTOR_STEP_UP_SECONDS": "ten minutes"}, "ZEKTOR_STEP_UP_SECONDS"),
        ({**GOOD, "ZEKTOR_STEP_UP_SECONDS": "5"}, "ZEKTOR_STEP_UP_SECONDS"),
    ],
)
def test_it_refuses_to_start_with_one_line_naming_the_variable(env, variable):
    result = run_check(env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert "Traceback" not in result.stderr


def test_it_starts_with_good_configuration():
    result = run_check(GOOD)
    assert result.returncode == 0, result.stderr


def test_it_reads_secrets_from_files(tmp_path):
    key_file = tmp_path / "secret"
    key_file.write_text("y" * 40 + "\n")
    result = run_check(
        {"ZEKTOR_ENCRYPTION_KEYS": GOOD_KEY, "ZEKTOR_SECRET_KEY_FILE": str(key_file)}
    )
    assert result.returncode == 0, result.stderr


def test_it_starts_in_debug_without_secrets():
    result = run_check({"ZEKTOR_DEBUG": "true"})
    assert result.returncode == 0, result.stderr


def test_it_warns_about_risky_settings_with_system_check_ids():
    result = run_check(
        {**GOOD, "ZEKTOR_CHECK_DENY_NETWORKS": "10.0.0.0/8", "ZEKTOR_CHECK_TIMEOUT": "60"}
    )
    assert result.returncode == 0
    assert "zektor.W002" in result.stderr
    assert "zektor.W003" in result.stderr


def test_it_starts_with_sso_only_and_reads_the_client_secret_from_a_file(tmp_path):
    secret = tmp_path / "oidc-secret"
    secret.write_text("from-a-file\n")
    sso = {k: v for k, v in SSO.items() if k != "ZEKTOR_OIDC_CLIENT_SECRET"}
    env = {**GOOD, **sso, "ZEKTOR_OIDC_CLIENT_SECRET_FILE": str(secret)}
    result = run_check({**env, "ZEKTOR_LOCAL_LOGIN": "false"})
    assert result.returncode == 0, result.stderr
    config = Env({**sso, "ZEKTOR_OIDC_CLIENT_SECRET_FILE": str(secret)}).oidc()
    assert config is not None and config.client_secret == "from-a-file"


def test_it_parses_the_team_role_mapping():
    env = {**SSO, "ZEKTOR_OIDC_TEAM_ROLES": "db-admins=Alpha:admin, /acme/devs=Beta Team:member"}
    config = Env(env).oidc()
    assert config is not None
    assert config.team_roles == (
        ("db-admins", "Alpha", "admin"),
        ("/acme/devs", "Beta Team", "member"),
    )
    assert config.issuer == "https://idp.example/realms/acme"
    assert Env({}).oidc() is None


def test_it_parses_key_lists_in_order():
    keys = Env({"K": f"new:{GOOD_KEY.split(':')[1]},{GOOD_KEY}"}).encryption_keys("K")
    assert list(keys) == ["new", "k1"]


def test_it_rejects_duplicate_key_ids():
    with pytest.raises(ConfigError, match="appears twice"):
        Env({"K": f"{GOOD_KEY},{GOOD_KEY}"}).encryption_keys("K")


def test_it_rejects_value_and_file_together(tmp_path):
    with pytest.raises(ConfigError, match="not both"):
        Env({"X": "a", "X_FILE": str(tmp_path)}).str("X")
