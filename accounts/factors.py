"""A user's second factors (allauth.mfa authenticators): which they have, recovery codes,
and the rule that a team's required second factor cannot be removed."""

from __future__ import annotations

from allauth.mfa.base.forms import AuthenticateForm
from allauth.mfa.models import Authenticator
from allauth.mfa.webauthn.forms import AuthenticateWebAuthnForm
from allauth.mfa.webauthn.internal import auth as webauthn
from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts.policy import ENROL_KEY, SIGN_IN_METHOD_KEY, teams_requiring_mfa
from instances import audit

SECOND_FACTORS = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)


def authenticators(user: User, kind: str):
    return Authenticator.objects.filter(user=user, type=kind)


def has_second_factor(user: User) -> bool:
    return Authenticator.objects.filter(user=user, type__in=SECOND_FACTORS).exists()


def has_codes(user: User) -> bool:
    """TOTP or recovery codes: what a typed code can be checked against."""
    kinds = (Authenticator.Type.TOTP, Authenticator.Type.RECOVERY_CODES)
    return Authenticator.objects.filter(user=user, type__in=kinds).exists()


def has_key(user: User) -> bool:
    return authenticators(user, Authenticator.Type.WEBAUTHN).exists()


def check_code(user: User, code: str) -> str | None:
    """The method ('totp' or 'recovery_code') a typed code proves, or None; records its use
    (allauth refuses a TOTP code or recovery code used before, and rate-limits tries)."""
    form = AuthenticateForm(user=user, data={"code": code.replace(" ", "")})
    if not form.is_valid():
        return None
    form.save()
    return "totp" if form.authenticator.type == Authenticator.Type.TOTP else "recovery_code"


def key_request_options(user: User) -> dict:
    """A WebAuthn challenge for the user's keys (allauth keeps it in the session)."""
    return webauthn.begin_authentication(user)


def check_key(user: User, credential: str) -> bool:
    """Check the browser's answer (JSON) to `key_request_options`; records the key's use."""
    form = AuthenticateWebAuthnForm(user=user, data={"credential": credential})
    if not form.is_valid():
        return False
    form.save()
    return True


def recovery_authenticator(user: User) -> Authenticator | None:
    return authenticators(user, Authenticator.Type.RECOVERY_CODES).first()


def render_codes(request: HttpRequest, recovery: Authenticator | None) -> HttpResponse:
    codes = recovery.wrap().get_unused_codes() if recovery else []
    return render(request, "accounts/recovery_codes.html", {"codes": codes})


def remove_factor(
    request: HttpRequest, authenticator: Authenticator | None, method: str, delete
) -> HttpResponse:
    """Remove a second factor with allauth's `delete` flow, unless a team still needs it."""
    if authenticator is None:
        return redirect("account")
    if response := refuse_removal(request, authenticator.user, authenticator):
        return response
    delete(request, authenticator)
    audit.record("mfa_disabled", request=request, method=method)
    return redirect("account")


def refuse_removal(
    request: HttpRequest, user: User, removing: Authenticator
) -> HttpResponse | None:
    """A redirect with the reason when `removing` is the last second factor a team requires."""
    others = Authenticator.objects.filter(user=user, type__in=SECOND_FACTORS).exclude(
        pk=removing.pk
    )
    required_by = teams_requiring_mfa(user)
    if others.exists() or not required_by or request.session.get(SIGN_IN_METHOD_KEY) == "sso":
        return None
    names = ", ".join(team.name for team in required_by)
    messages.error(request, f"Team {names} requires a second factor: keep at least one.")
    return redirect("account")


def ask_to_enrol(request: HttpRequest, user: User, method: str) -> None:
    """At sign-in: a password sign-in without a second factor into such a team must enrol."""
    if method == "password" and not has_second_factor(user) and teams_requiring_mfa(user):
        request.session[ENROL_KEY] = True
