"""Throttling of the views that hand out a stored password (``instances.secrets`` opens it)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django_ratelimit.core import is_ratelimited
from django_ratelimit.exceptions import Ratelimited

from instances.views import rate_limited

SECRETS_RATE = "30/m"
SECRETS_RATE_GROUP = "instance-secrets"


def throttled(request: HttpRequest) -> HttpResponse | None:
    """A 429 response once the user used up their reveals, copies and downloads for now."""
    if is_ratelimited(
        request, group=SECRETS_RATE_GROUP, key="user", rate=SECRETS_RATE, increment=True
    ):
        return rate_limited(request, Ratelimited())
    return None
