from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers

from instances.clientaddress import client_address

# allauth's rate limits read the client address from this header (ALLAUTH_TRUSTED_CLIENT_IP_HEADER).
CLIENT_ADDRESS_HEADER = "X-Zektor-Client-Address"
_CLIENT_ADDRESS_META = "HTTP_" + CLIENT_ADDRESS_HEADER.upper().replace("-", "_")


class ClientAddressMiddleware:
    """First in MIDDLEWARE: puts the one client address (clientaddress.client_address) in a
    header of the portal's own, replacing whatever a client sent under that name, for
    libraries that read the address from a header."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.META.pop(_CLIENT_ADDRESS_META, None)
        if address := client_address(request):
            request.META[_CLIENT_ADDRESS_META] = address
        return self.get_response(request)


class NoStoreMiddleware:
    """Pages of signed-in users may carry secrets: never let a cache keep them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith("/static/"):
            add_never_cache_headers(response)
        return response
