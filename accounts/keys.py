"""Security keys and passkeys (WebAuthn) as a second factor (allauth.mfa.webauthn): adding
and removing them on the account page. Checking them is in accounts/factors.py."""

from __future__ import annotations

import json

from allauth.mfa.models import Authenticator
from allauth.mfa.webauthn.forms import AddWebAuthnForm
from allauth.mfa.webauthn.internal import flows
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts import stepup
from accounts.factors import authenticators, remove_factor, render_codes
from instances import audit

CREDENTIAL_FIELD = "credential"


@login_required
@require_http_methods(["GET", "POST"])
@stepup.step_up_required
def key_add(request: HttpRequest) -> HttpResponse:
    user = stepup.signed_in(request)
    if not user.has_usable_password():
        return redirect("account")  # SSO accounts: second factors are the provider's job
    form = AddWebAuthnForm(
        user=user, data=request.POST if CREDENTIAL_FIELD in request.POST else None
    )
    if form.is_bound and form.is_valid():
        had_codes = Authenticator.objects.filter(
            user=user, type=Authenticator.Type.RECOVERY_CODES
        ).exists()
        _, recovery = flows.add_authenticator(
            request, form.cleaned_data["name"], form.cleaned_data["credential"]
        )
        audit.record("mfa_enabled", request=request, method="webauthn")
        if recovery is not None and not had_codes:
            return render_codes(request, recovery)
        return redirect("account")
    options = flows.begin_registration(request, user, passwordless=False)
    context = {"form": form, "creation_options": json.dumps(options), "error": bool(form.errors)}
    return render(request, "accounts/key_add.html", context)


@login_required
@require_POST
@stepup.step_up_required
def key_remove(request: HttpRequest, key_id: int) -> HttpResponse:
    keys = authenticators(stepup.signed_in(request), Authenticator.Type.WEBAUTHN)
    return remove_factor(
        request, keys.filter(pk=key_id).first(), "webauthn", flows.remove_authenticator
    )
