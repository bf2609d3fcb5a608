"""Helpers for tests of the HTTP API: tokens of any scope and team, calls with them."""

from __future__ import annotations

from collections.abc import Iterable

from django.test import Client

from api import tokens
from api.models import ApiToken, Scope
from instances.models import Team

ALL_SCOPES = tuple(Scope.values)


def make_token(
    team: Team, scopes: Iterable[str] = ALL_SCOPES, name: str | None = None, days: int = 30
) -> tuple[ApiToken, str]:
    scopes = tuple(scopes)
    issued = tokens.issue(team, name or f"t-{'-'.join(scopes) or 'none'}", scopes, days=days)
    return issued.token, issued.plaintext


def call(method: str, path: str, token: str | None = None, client: Client | None = None, **kw):
    client = client or Client()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    send = getattr(client, method.lower())
    if method == "POST":
        kw.setdefault("content_type", "application/json")
        kw.setdefault("data", "{}")
    return send(path, headers=headers, **kw)
