"""A real OpenID Connect provider for the tests: tests/oidc/provider.mjs (npm oidc-provider)
run by Node on a free loopback port, plus the settings that point the portal at it."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import requests

from accounts.conf import socialaccount_providers
from tests.npm import npm_ci
from tests.servers import unavailable
from zektor_portal.env import OIDCConfig

PROVIDER_DIR = Path(__file__).resolve().parent / "oidc"
CLIENT_ID = "zektor-portal"
CLIENT_SECRET = "test-client-secret-with-enough-entropy-0123456789"
CALLBACK_PATH = "/accounts/oidc/sso/login/callback/"
IDP_PASSWORD = "idp-password"
TEAM_ROLES = (
    ("db-admins", "Alpha", "admin"),
    ("developers", "Alpha", "member"),
    ("support", "Alpha", "viewer"),
    ("beta-devs", "Beta", "member"),
)


class Provider:
    """A running provider; accounts and ID-token modes change through its test routes."""

    def __init__(self, process: subprocess.Popen, issuer: str) -> None:
        self.process = process
        self.issuer = issuer

    def control(self, path: str, body: dict) -> None:
        request = urllib.request.Request(
            self.issuer + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # loopback only
            assert response.status == 204

    def set_account(self, login: str, groups: list[str], password: str = IDP_PASSWORD) -> None:
        self.control(f"/_test/accounts/{login}", {"password": password, "groups": groups})

    def id_token_mode(self, mode: str) -> None:
        self.control("/_test/id-token", {"mode": mode})

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=5)


@contextmanager
def running_provider(redirect_uris: list[str]) -> Iterator[Provider]:
    node = shutil.which("node")
    if node is None:
        unavailable("node is missing: cannot run the OpenID Connect provider")
    npm_ci(PROVIDER_DIR, "oidc-provider")
    process = subprocess.Popen(
        [node, str(PROVIDER_DIR / "provider.mjs")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    options = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(json.dumps({**options, "redirect_uris": redirect_uris}) + "\n")
    process.stdin.flush()
    line = process.stdout.readline()
    if not line:
        process.kill()
        raise RuntimeError("the OpenID Connect provider did not start")
    provider = Provider(process, json.loads(line)["issuer"])
    try:
        yield provider
    finally:
        provider.stop()


def sso_settings(issuer: str, *, client_id: str = CLIENT_ID, name: str = "Test IdP") -> dict:
    """Settings for override_settings: the portal's SSO pointed at `issuer`."""
    config = OIDCConfig(
        issuer=issuer,
        client_id=client_id,
        client_secret=CLIENT_SECRET,
        name=name,
        scopes=("openid", "profile", "email", "groups"),
        groups_claim="groups",
        team_roles=TEAM_ROLES,
    )
    return {"ZEKTOR_OIDC": config, "SOCIALACCOUNT_PROVIDERS": socialaccount_providers(config)}


def sign_in_at_provider(authorize_url: str, login: str, password: str = IDP_PASSWORD) -> str:
    """Play the user's browser at the provider (its login form, then consent granted by the
    provider itself); returns the URL it sends the browser back to, callback and query."""
    session = requests.Session()
    url = authorize_url
    for _ in range(12):
        response = session.get(url, allow_redirects=False, timeout=10)
        if response.status_code == 200 and 'name="login"' in response.text:
            action = urljoin(url, f"{urlsplit(url).path}/login")
            form = {"login": login, "password": password}
            response = session.post(action, data=form, allow_redirects=False, timeout=10)
        if response.status_code not in (302, 303):
            raise AssertionError(f"provider answered {response.status_code}: {response.text}")
        url = urljoin(url, response.headers["Location"])
        if CALLBACK_PATH in url:
            return url
    raise AssertionError("the provider never sent the browser back")


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
