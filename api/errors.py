"""API errors: every refusal is JSON `{"error", "detail"}` with its status code."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

# Status codes every authenticated operation may answer besides its success.
REFUSALS = (401, 403, 404, 422, 429)


class ApiError(Exception):
    """``retry_after``: the seconds a 429 or 409 asks the client to wait (default 60)."""

    def __init__(self, status: int, error: str, detail: str, retry_after: int | None = None):
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail
        self.retry_after = retry_after


def not_found(what: str = "instance") -> ApiError:
    """The same answer for a missing instance and another team's."""
    return ApiError(404, "not_found", f"No such {what} in this token's team.")


def install(api: NinjaAPI) -> None:
    """Answer every error the API raises with the JSON error shape."""

    def reply(
        request: HttpRequest, status: int, error: str, detail: str, retry_after: int | None = None
    ) -> HttpResponse:
        response = api.create_response(request, {"error": error, "detail": detail}, status=status)
        if status == 429 or retry_after is not None:
            response["Retry-After"] = str(retry_after or 60)
        if status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="zektor"'
        return response

    @api.exception_handler(ApiError)
    def api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        return reply(request, exc.status, exc.error, exc.detail, exc.retry_after)

    @api.exception_handler(AuthenticationError)
    def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        detail = "Send the header 'Authorization: Bearer TOKEN' with a team API token."
        return reply(request, 401, "unauthorized", detail)

    @api.exception_handler(ValidationError)
    def invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        problems = [
            f"{_where(error.get('loc', ()))}: {error.get('msg', '')}" for error in exc.errors
        ]
        return reply(request, 422, "invalid_request", "; ".join(problems) or "Invalid request.")

    @api.exception_handler(Http404)
    def missing(request: HttpRequest, exc: Http404) -> HttpResponse:
        return reply(request, 404, "not_found", "No such resource.")

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        error = "invalid_request" if exc.status_code in (400, 422) else "http_error"
        return reply(request, exc.status_code, error, str(exc))


def _where(loc: tuple) -> str:
    """`query.limit`, `body.grace_seconds` (django-ninja says `body.body.grace_seconds`)."""
    parts = [str(part) for part in loc]
    return ".".join(part for i, part in enumerate(parts) if i == 0 or part != parts[i - 1])
