"""Who a request is: its bearer token, its scopes, its team's instances, its rate limits."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django_ratelimit.core import is_ratelimited
from ninja.security import HttpBearer

from api import tokens
from api.errors import ApiError, not_found
from api.models import ApiToken
from instances import audit
from instances.models import Instance

# Every call of one token; reveals and tests also count against the limits a person has.
API_RATE = "300/m"
API_RATE_GROUP = "api-token"


class TokenAuth(HttpBearer):
    """`Authorization: Bearer zkp_...`. The API knows no sessions: a browser's cookie is
    ignored, so a page cannot make calls with its user's rights (and CSRF cannot apply)."""

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        request.user = AnonymousUser()
        try:
            found = tokens.authenticate(token.strip())
        except tokens.TokenInvalid as refused:
            if refused.token is not None:  # a real token past its life: worth a record
                audit.record(
                    "api_request",
                    request=request,
                    team=refused.token.team,
                    outcome="refused",
                    actor_name=refused.token.actor_name,
                    token_id=refused.token.pk,
                    reason=str(refused),
                )
            raise ApiError(401, "invalid_token", str(refused)) from None
        setattr(request, audit.AUDIT_AS, {"actor_name": found.actor_name, "token_id": found.pk})
        limit(request, API_RATE_GROUP, API_RATE, str(found.pk))
        return found


def token_of(request: HttpRequest) -> ApiToken:
    return request.auth  # type: ignore[attr-defined]


def limit(request: HttpRequest, group: str, rate: str, key: str) -> None:
    """Count this call in `group` under `key` (a token's); 429 once `rate` is used up."""
    if is_ratelimited(
        request, group=group, key=lambda _group, _request: f"token:{key}", rate=rate, increment=True
    ):
        raise ApiError(429, "throttled", "Too many requests. Wait a minute, then try again.")


def require(request: HttpRequest, scope: str) -> ApiToken:
    """The request's token if it has `scope`; 403 (recorded) if not."""
    token = token_of(request)
    if not token.allows(scope):
        _refused(request, token, "insufficient_scope", scope=str(scope))
        raise ApiError(
            403, "insufficient_scope", f"This needs a token with the scope {str(scope)!r}."
        )
    return token


def instance_for(request: HttpRequest, name: str, scope: str) -> Instance:
    """The token's team's instance `name`: 403 without `scope`, 404 (recorded) outside
    the team, exactly as for a name that does not exist."""
    token = require(request, scope)
    instance = Instance.objects.filter(team=token.team, name=name).select_related("team").first()
    if instance is None:
        _refused(request, token, "not_found", name=name)
        raise not_found()
    return instance


def _refused(request: HttpRequest, token: ApiToken, reason: str, **detail: Any) -> None:
    audit.record(
        "api_request",
        request=request,
        team=token.team,
        outcome="refused",
        reason=reason,
        path=request.path[:200],
        **detail,
    )
