from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def rate_limited(request: HttpRequest, exception: Exception) -> HttpResponse:
    """django-ratelimit's view for blocked requests: 429 with a message that says what to do."""
    message = "Too many requests. Wait a minute, then try again."
    if request.headers.get("Accept", "").startswith("application/json") or request.path.endswith(
        ("/test", "/reveal", "/copy")
    ):
        return HttpResponse(message, status=429, content_type="text/plain; charset=utf-8")
    return render(request, "error.html", {"status": 429, "message": message}, status=429)
