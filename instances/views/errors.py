"""Error pages that say what happened and leak nothing."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def _page(request: HttpRequest, status: int, message: str) -> HttpResponse:
    return render(request, "error.html", {"status": status, "message": message}, status=status)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _page(request, 404, "There is nothing here, or it belongs to a team you are not in.")


def forbidden(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _page(request, 403, "Your role in this team does not allow that.")


def server_error(request: HttpRequest) -> HttpResponse:
    return _page(request, 500, "Something went wrong on our side. It has been logged.")
