"""The one place the API opens a stored password."""

from __future__ import annotations

from django.http import HttpRequest

from api.errors import ApiError
from instances.models import Instance
from instances.secrets import Purpose, SecretUnavailable, UnsafeStoredValue, open_password


def reveal_password(request: HttpRequest, instance: Instance) -> str:
    """The plaintext password, audited as the request's token (also when it fails)."""
    try:
        return open_password(instance, Purpose.REVEAL, request=request, via="api")
    except UnsafeStoredValue as problem:
        raise ApiError(problem.status, "unsafe_value", str(problem)) from None
    except SecretUnavailable as problem:
        raise ApiError(problem.status, "secret_unavailable", str(problem)) from None
