"""Teams that require a second factor, and asking their members to enrol at sign-in."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from instances.models import Team

ENROL_KEY = "zektor_enrol_mfa"
SIGN_IN_METHOD_KEY = "zektor_sign_in_method"  # how this session signed in


def teams_requiring_mfa(user: User) -> list[Team]:
    return list(Team.objects.filter(memberships__user=user, policy__require_mfa=True))


class RequireMFAMiddleware:
    """Until they enrol, such members reach only the enrolment page and sign-out."""

    ALLOWED = ("totp_activate", "key_add", "logout", "login", "account")

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.session.get(ENROL_KEY) and request.user.is_authenticated:
            allowed = {reverse(name) for name in self.ALLOWED}
            if request.path not in allowed and not request.path.startswith(settings.STATIC_URL):
                return redirect("totp_activate")
        return self.get_response(request)
