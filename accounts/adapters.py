"""allauth adapters: who may sign up, and the checks every SSO answer must pass."""

from __future__ import annotations

import time
from typing import Any

import jwt
import requests
from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.helpers import render_authentication_error
from allauth.socialaccount.providers.base import AuthProcess
from allauth.socialaccount.providers.base.constants import AuthError
from django.conf import settings
from django.shortcuts import render

from accounts import stepup
from accounts.oidc import NONCE_KEY, id_token_of
from instances import audit

ERROR_TEMPLATE = "socialaccount/authentication_error.html"
TOKEN_PROBLEMS = (
    (
        jwt.InvalidAudienceError,
        "The provider's ID token was issued for another application "
        "(wrong audience): check ZEKTOR_OIDC_CLIENT_ID.",
    ),
    (
        jwt.ExpiredSignatureError,
        "The provider's ID token has expired: check that the clocks of "
        "the portal and the provider agree.",
    ),
    (jwt.InvalidIssuerError, "The ID token comes from a different issuer than ZEKTOR_OIDC_ISSUER."),
    (jwt.InvalidSignatureError, "The ID token's signature does not match the provider's keys."),
    (jwt.PyJWTError, "The provider's ID token is not valid."),
)


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        """Local accounts come from admins (add_member); only SSO creates users itself."""
        return False

    def is_reauthentication_required(self, *, app: str, **kwargs: Any) -> bool:
        """The portal's own step-up guards second-factor changes (accounts/stepup.py)."""
        return False


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request, sociallogin) -> bool:
        return True

    def on_authentication_error(
        self, request, provider, error=None, exception=None, extra_context=None
    ) -> None:
        """Say what went wrong in words, and audit the failed sign-in."""
        extra_context = {} if extra_context is None else extra_context
        message = extra_context.get("zektor_message") or explain(error, exception, extra_context)
        extra_context["zektor_message"] = message
        audit.record("login_failed", request=request, outcome="fail", method="sso", reason=message)
        if error == AuthError.CANCELLED:
            raise ImmediateHttpResponse(
                render(request, ERROR_TEMPLATE, {"zektor_message": message}, status=400)
            )

    def pre_social_login(self, request, sociallogin) -> None:
        """Refuse a replayed or foreign answer; a re-authentication only proves, no sign-in."""
        claims = id_token_of(sociallogin)
        nonce = sociallogin.state.get(NONCE_KEY)
        if not nonce or claims.get("nonce") != nonce:
            refuse(request, sociallogin, "The provider's answer does not match this sign-in.")
        auth_time = float(claims.get("auth_time") or time.time())
        stepup.mark_sign_in(request, "sso", auth_time)
        if sociallogin.state.get("process") == AuthProcess.REDIRECT:
            self.reauthenticated(request, sociallogin, auth_time)

    def reauthenticated(self, request, sociallogin, auth_time: float) -> None:
        same_user = sociallogin.is_existing and sociallogin.user == request.user
        if not request.user.is_authenticated or not same_user:
            refuse(request, sociallogin, "You confirmed as a different account: sign out first.")
        if time.time() - auth_time > settings.ZEKTOR_STEP_UP_SECONDS:
            refuse(request, sociallogin, "The provider did not ask you to sign in again.")
        stepup.record_proof(request, "sso", auth_time)


def explain(error, exception, context: dict) -> str:
    """A plain-language reason for a failed SSO sign-in."""
    if error == AuthError.CANCELLED:
        return "You cancelled the sign-in at the identity provider."
    cause = exception.__cause__ if exception is not None else None
    for kind, message in TOKEN_PROBLEMS:
        if isinstance(cause, kind):
            return message
    if isinstance(exception, requests.RequestException):
        return "The identity provider could not be reached: try again later, or tell your admin."
    if "state_id" in context and context.get("state") is None:
        return (
            "This sign-in answer does not belong to a sign-in started in this browser (unknown "
            "or reused state): start again from the sign-in page."
        )
    if exception is not None:
        return "The identity provider's answer failed the portal's checks: nothing was changed."
    return "The identity provider refused the sign-in."


def refuse(request, sociallogin, message: str) -> None:
    raise ImmediateHttpResponse(
        render_authentication_error(
            request, sociallogin.provider, extra_context={"zektor_message": message}
        )
    )
