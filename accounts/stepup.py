"""Step-up: a fresh proof of identity before a secret leaves the portal.

A sign-in is a proof of the method it used; afterwards the user proves it again with their
second factor (TOTP or a recovery code), or re-authenticates at the SSO provider
(prompt=login, max_age=0, checked against the ID token's auth_time). A user with neither
re-enters their password: the only proof they have, and one a stolen session cookie lacks.
A proof counts for ZEKTOR_STEP_UP_SECONDS. Views that open a secret or start a rotation are
wrapped in ``step_up_required``, the one place this is decided.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from urllib.parse import urlencode, urlsplit

from allauth.socialaccount.models import SocialAccount
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_ratelimit.core import is_ratelimited

from accounts.conf import PROVIDER_ID
from accounts.factors import check_code, check_key, has_codes, has_key, key_request_options
from instances import audit

SESSION_KEY = "zektor_proof"
CODE_FIELD = "step_up_code"
PASSWORD_FIELD = "step_up_password"
CREDENTIAL_FIELD = "step_up_credential"
# Never echoed back into the prompt page that carries a POST on.
NOT_CARRIED = {"csrfmiddlewaretoken", CODE_FIELD, PASSWORD_FIELD, CREDENTIAL_FIELD, "new_password"}
ATTEMPTS_RATE = "10/5m"
RESUME_KEY = "zektor_step_up_resume"


class ProofRefused(Exception):
    """The code or password was wrong; the message says so without detail."""


def signed_in(request: HttpRequest) -> User:
    """request.user, for views behind login_required."""
    if isinstance(request.user, AnonymousUser):
        raise PermissionDenied("Sign in first.")
    return request.user


def mark_sign_in(request: HttpRequest, method: str, at: float | None = None) -> None:
    """Tell the sign-in signal (accounts/signals.py) which proof this sign-in is."""
    vars(request)["zektor_proof"] = (method, at)


def sign_in_proof(request: HttpRequest) -> tuple[str, float | None]:
    return vars(request).get("zektor_proof", ("password", None))


def record_proof(request: HttpRequest, method: str, at: float | None = None) -> None:
    request.session[SESSION_KEY] = {"method": method, "at": time.time() if at is None else at}


def fresh_proof(request: HttpRequest) -> str | None:
    """How the user last proved it, if that was within ZEKTOR_STEP_UP_SECONDS."""
    proof = request.session.get(SESSION_KEY) or {}
    if time.time() - float(proof.get("at", 0)) <= settings.ZEKTOR_STEP_UP_SECONDS:
        return str(proof.get("method", ""))
    return None


def sso_enabled() -> bool:
    return settings.ZEKTOR_OIDC is not None


def has_sso(user: User) -> bool:
    return sso_enabled() and SocialAccount.objects.filter(user=user).exists()


def proof_methods(user: User) -> list[str]:
    """What this user may prove it with: second factor and SSO, else their password."""
    methods = []
    if has_codes(user):
        methods.append("code")
    if has_key(user):
        methods.append("key")
    if has_sso(user):
        methods.append("sso")
    if not methods and settings.ZEKTOR_LOCAL_LOGIN and user.has_usable_password():
        methods.append("password")
    return methods


def sso_reauth_url(next_url: str) -> str:
    """Start an SSO re-authentication that comes back to `next_url` without a new sign-in."""
    query = {
        "process": "redirect",
        "next": next_url,
        "auth_params": urlencode({"prompt": "login", "max_age": "0"}),
    }
    login = reverse("openid_connect_login", kwargs={"provider_id": PROVIDER_ID})
    return f"{login}?{urlencode(query)}"


@dataclass(frozen=True)
class Offered:
    """What the user typed or their browser answered: a code, a password, a key's answer."""

    code: str = ""
    password: str = ""
    credential: str = ""


def verify(request: HttpRequest, offered: Offered) -> str:
    """Check a submitted proof; record and return its method, or raise ProofRefused."""
    user = signed_in(request)
    methods = proof_methods(user)
    if is_ratelimited(request, group="step-up", key="user", rate=ATTEMPTS_RATE, increment=True):
        raise ProofRefused("Too many attempts: wait a few minutes and try again.")
    if offered.code and "code" in methods:
        if method := check_code(user, offered.code):
            return _proved(request, method)
        return _refused(request, "code", "That code is not right (or was used already).")
    if offered.credential and "key" in methods:
        if check_key(user, offered.credential):
            return _proved(request, "webauthn")
        return _refused(request, "webauthn", "Your security key's answer was not accepted.")
    if offered.password and "password" in methods:
        if user.check_password(offered.password):
            return _proved(request, "password")
        return _refused(request, "password", "That password is not right.")
    raise ProofRefused(what_to_offer(methods))


def what_to_offer(methods: list[str]) -> str:
    if "code" in methods or "key" in methods:
        return (
            "Use your security key, or enter a code from your authenticator app or a recovery code."
        )
    if "password" in methods:
        return "Enter your password."
    if "sso" in methods:
        return "Confirm it is you at your identity provider."
    return "Your account has no way to confirm it is you: ask an admin for help."


def _proved(request: HttpRequest, method: str) -> str:
    record_proof(request, method)
    audit.record("step_up", request=request, method=method)
    return method


def _refused(request: HttpRequest, method: str, message: str) -> str:
    audit.record("step_up_failed", request=request, outcome="fail", method=method)
    raise ProofRefused(message)


def wants_json(request: HttpRequest) -> bool:
    return request.content_type == "application/json"


def prompt(request: HttpRequest, error: str = "") -> HttpResponse:
    """Ask for a proof in place of the answer: JSON for scripts, else a page whose form
    posts the same request again with the proof, so the action carries on."""
    user = signed_in(request)
    methods = proof_methods(user)
    back = return_path(request)
    message = error or "The portal asks for a fresh proof before it hands out a secret."
    key_options = key_request_options(user) if "key" in methods else None
    if wants_json(request):
        body = {
            "error": "step_up_required",
            "message": message,
            "methods": methods,
            "step_up_url": reverse("step-up"),
            "sso_url": sso_reauth_url(back) if "sso" in methods else None,
            "key_options": key_options,
        }
        return JsonResponse(body, status=401)
    action = {"action": request.get_full_path(), "carried": carried_fields(request)}
    if "sso" in methods:
        # After the provider, accounts.views.step_up_resume posts this action again.
        request.session[RESUME_KEY] = action
    context = {
        **action,
        "dropped_password": bool(request.POST.get("new_password")),
        "methods": methods,
        "error": error,
        "sso_url": sso_reauth_url(reverse("step-up-resume")) if "sso" in methods else None,
        "sso_name": settings.ZEKTOR_OIDC.name if sso_enabled() else "",
        "key_options": json.dumps(key_options) if key_options else None,
    }
    return render(request, "accounts/step_up.html", context, status=401)


def carried_fields(request: HttpRequest) -> list[tuple[str, str]]:
    """The POST's fields to send again once proved (never a token, proof or password)."""
    lists = [(k, v) for k, v in request.POST.lists() if k not in NOT_CARRIED]
    return [(key, value) for key, values in lists for value in values]


def return_path(request: HttpRequest) -> str:
    """Where an SSO re-authentication comes back to: the page the action was started from."""
    for candidate in (request.headers.get("X-Step-Up-Return"), request.headers.get("Referer")):
        if candidate and url_has_allowed_host_and_scheme(
            candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            parts = urlsplit(candidate)
            return parts.path + (f"?{parts.query}" if parts.query else "")
    return reverse("instance-list")


def step_up_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Run `view` only with a fresh proof, taking one from the POST when it comes with it."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method == "POST" and not fresh_proof(request):
            offered = Offered(
                code=request.POST.get(CODE_FIELD, "").strip(),
                password=request.POST.get(PASSWORD_FIELD, ""),
                credential=request.POST.get(CREDENTIAL_FIELD, ""),
            )
            if offered == Offered():
                return prompt(request)
            try:
                verify(request, offered)
            except ProofRefused as problem:
                return prompt(request, str(problem))
        vars(request)["step_up_method"] = fresh_proof(request)  # read by instances.audit
        return view(request, *args, **kwargs)

    return wrapper
