"""Issuing, checking and revoking team API tokens.

A token is ``zkp_`` plus 32 random bytes from ``secrets.token_urlsafe``; the database keeps
its first characters (to find it) and the SHA-256 digest of the whole token, compared in
constant time. A 256-bit random token needs no slow password hash: guessing is hopeless."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from api.models import ApiToken, Scope
from instances import audit
from instances.models import Team

TOKEN_PREFIX = "zkp_"
PREFIX_LENGTH = 12  # "zkp_" and 8 random characters: shown, never enough to use
DEFAULT_DAYS = 90
MAX_DAYS = 365
MAX_NAME_LENGTH = 100
# A lookup touches the row once a minute at most, not on every call.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenRefused(Exception):
    """Bad input for a new token; the message says what to change."""


class TokenInvalid(Exception):
    """The presented token does not authenticate; ``reason`` is said to the caller."""

    def __init__(self, reason: str, token: ApiToken | None = None) -> None:
        super().__init__(reason)
        self.token = token


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    plaintext: str  # shown once, never stored


def digest_of(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def parse_scopes(raw: str | Iterable[str]) -> list[str]:
    names = raw.split(",") if isinstance(raw, str) else list(raw)
    scopes = sorted({name.strip() for name in names if name.strip()})
    unknown = [scope for scope in scopes if scope not in Scope.values]
    if unknown or not scopes:
        raise TokenRefused(
            f"scopes must be one or more of {', '.join(Scope.values)}"
            + (f" (unknown: {', '.join(unknown)})" if unknown else "")
        )
    return scopes


def _check_name(team: Team, name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise TokenRefused(f"a token name needs 1 to {MAX_NAME_LENGTH} printable characters")
    if team.api_tokens.filter(name=name, revoked_at__isnull=True).exists():
        raise TokenRefused(f"team {team.name} already has a token named {name!r}; revoke it first")
    return name


def _check_days(days: int) -> int:
    if not 1 <= days <= MAX_DAYS:
        raise TokenRefused(f"a token lives 1 to {MAX_DAYS} days")
    return days


def issue(
    team: Team,
    name: str,
    scopes: str | Iterable[str],
    *,
    days: int = DEFAULT_DAYS,
    created_by=None,
    request=None,
    actor_name: str = "",
) -> IssuedToken:
    """A new token of `team`, audited; raises TokenRefused (changing nothing) on bad input."""
    name, chosen, days = _check_name(team, name), parse_scopes(scopes), _check_days(days)
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        team=team,
        name=name,
        scopes=chosen,
        prefix=plaintext[:PREFIX_LENGTH],
        digest=digest_of(plaintext),
        created_by=created_by,
        expires_at=timezone.now() + timedelta(days=days),
    )
    try:
        with transaction.atomic():
            token.save()
            _audit("api_token_created", token, request, actor_name, scopes=chosen, days=days)
    except IntegrityError:
        raise TokenRefused(f"team {team.name} already has a token named {name!r}") from None
    return IssuedToken(token, plaintext)


def revoke(token: ApiToken, *, request=None, actor_name: str = "") -> bool:
    """Revoke the token (audited); False when it was revoked already."""
    with transaction.atomic():
        changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if changed:
            token.refresh_from_db()
            _audit("api_token_revoked", token, request, actor_name)
    return bool(changed)


def _audit(action: str, token: ApiToken, request, actor_name: str, **detail: Any) -> None:
    """Recorded as the signed-in user of `request`, else as `actor_name` (a command)."""
    who: dict[str, Any] = {"actor_name": actor_name} if actor_name else {}
    audit.record(
        action,
        request=request,
        team=token.team,
        token_id=token.pk,
        token_name=token.name,
        **who,
        **detail,
    )


def authenticate(plaintext: str) -> ApiToken:
    """The live token `plaintext` stands for; TokenInvalid says why not."""
    if not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > 200:
        raise TokenInvalid("The token is not a Zektor API token.")
    digest = digest_of(plaintext)
    candidates = ApiToken.objects.filter(prefix=plaintext[:PREFIX_LENGTH]).select_related("team")
    token = next((c for c in candidates if hmac.compare_digest(c.digest, digest)), None)
    if token is None:
        raise TokenInvalid("The token is unknown.")
    if token.revoked_at is not None:
        raise TokenInvalid("The token was revoked.", token)
    if token.expired:
        raise TokenInvalid("The token has expired.", token)
    _touch(token)
    return token


def _touch(token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
