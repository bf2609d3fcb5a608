"""ZEKTOR_EMAIL_URL and ZEKTOR_EMAIL_FROM: typed, refused at start when wrong."""

from __future__ import annotations

import pytest

from tests.test_config import GOOD, run_check
from tests.test_config import (
    test_it_refuses_to_start_with_one_line_naming_the_variable as assert_refused,
)
from zektor_portal.env import ConfigError, EmailServer, Env

MAIL = {"ZEKTOR_EMAIL_URL": "smtp+tls://mail.example.com", "ZEKTOR_EMAIL_FROM": "z@example.com"}


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({**MAIL, "ZEKTOR_EMAIL_URL": "http://mail.example.com"}, "ZEKTOR_EMAIL_URL"),
        ({**MAIL, "ZEKTOR_EMAIL_URL": "smtp://mail.example.com:99999"}, "ZEKTOR_EMAIL_URL"),
        ({**MAIL, "ZEKTOR_EMAIL_URL": "smtps://"}, "ZEKTOR_EMAIL_URL"),
        ({**MAIL, "ZEKTOR_EMAIL_URL": "smtp://host/path"}, "ZEKTOR_EMAIL_URL"),
        ({**MAIL, "ZEKTOR_EMAIL_FROM": "Zektor <z@example.com>"}, "ZEKTOR_EMAIL_FROM"),
        ({"ZEKTOR_EMAIL_URL": "smtp://mail.example.com"}, "ZEKTOR_EMAIL_FROM"),
        ({**MAIL, "ZEKTOR_EMAIL_URL_FILE": "/nonexistent"}, "ZEKTOR_EMAIL_URL"),
    ],
)
def test_it_refuses_to_start_with_one_line_naming_the_variable(env, variable):
    assert_refused({**GOOD, **env}, variable)


def test_it_keeps_the_mail_password_out_of_the_error():
    result = run_check({**GOOD, **MAIL, "ZEKTOR_EMAIL_URL": "smtp://u:hunter2@host:0"})
    assert result.returncode == 2
    assert "hunter2" not in result.stderr


def test_it_starts_with_mail_configured_from_a_file(tmp_path):
    url_file = tmp_path / "mail-url"
    url_file.write_text("smtps://alerts:p%40ss@mail.example.com\n")
    env = {**GOOD, "ZEKTOR_EMAIL_URL_FILE": str(url_file), "ZEKTOR_EMAIL_FROM": "z@example.com"}
    assert run_check(env).returncode == 0


@pytest.mark.parametrize(
    ("url", "server"),
    [
        ("smtp://localhost", EmailServer("localhost", 25, "", "", "none")),
        (
            "smtp+tls://u@mail.example.com",
            EmailServer("mail.example.com", 587, "u", "", "starttls"),
        ),
        (
            "smtps://a%40b:p%3A%2Fss@mx.example.com:2465",
            EmailServer("mx.example.com", 2465, "a@b", "p:/ss", "ssl"),
        ),
    ],
)
def test_it_parses_the_three_schemes(url, server):
    assert Env({"U": url}).email_server("U") == server


def test_mail_is_off_without_both():
    assert Env({}).email() == (None, None)
    with pytest.raises(ConfigError, match="ZEKTOR_EMAIL_FROM is required"):
        Env({"ZEKTOR_EMAIL_URL": "smtp://h"}).email()


def test_it_warns_when_the_mail_password_would_travel_in_clear():
    env = {**GOOD, **MAIL, "ZEKTOR_EMAIL_URL": "smtp://u:secret-pw@mail.example.com"}
    result = run_check(env)
    assert result.returncode == 0, result.stderr
    assert "zektor.alerts.W001" in result.stderr
    assert "secret-pw" not in result.stderr
    assert "zektor.alerts.W001" not in run_check({**GOOD, **MAIL}).stderr
