"""Sign-in (password, second factor, SSO link), the account page with second-factor
enrolment and recovery codes, the JSON step-up used by in-page prompts, team policy."""

from __future__ import annotations

import base64
import json
import time

from allauth.mfa.adapter import get_adapter as get_mfa_adapter
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.flows import generate_recovery_codes
from allauth.mfa.totp.forms import ActivateTOTPForm
from allauth.mfa.totp.internal import flows as totp_flows
from allauth.socialaccount.models import SocialAccount
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import stepup
from accounts.conf import PROVIDER_ID
from accounts.factors import (
    authenticators,
    check_code,
    check_key,
    has_codes,
    has_key,
    has_second_factor,
    key_request_options,
    recovery_authenticator,
    remove_factor,
    render_codes,
)
from accounts.models import TeamPolicy
from accounts.policy import ENROL_KEY, SIGN_IN_METHOD_KEY, teams_requiring_mfa
from instances import audit
from instances.access import get_team_for
from instances.models import Membership, Role

PENDING_KEY = "zektor_pending_second_factor"
PENDING_SECONDS = 300
LOCAL_LOGIN_OFF = "Password sign-in is turned off here: sign in with your identity provider."


def sso_login_url(next_url: str = "") -> str | None:
    if settings.ZEKTOR_OIDC is None:
        return None
    login = reverse("openid_connect_login", kwargs={"provider_id": PROVIDER_ID})
    query = {"process": "login", **({"next": next_url} if next_url else {})}
    return f"{login}?{urlencode(query)}"


class LoginView(auth_views.LoginView):
    """Django's login form, plus the SSO link, ZEKTOR_LOCAL_LOGIN and a second factor."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["local_login"] = settings.ZEKTOR_LOCAL_LOGIN
        context["sso_url"] = sso_login_url(self.get_redirect_url())
        context["sso_name"] = settings.ZEKTOR_OIDC.name if settings.ZEKTOR_OIDC else ""
        return context

    def post(self, request, *args, **kwargs):
        if not settings.ZEKTOR_LOCAL_LOGIN:
            context = self.get_context_data(local_login_error=LOCAL_LOGIN_OFF)
            return self.render_to_response(context, status=403)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        user = form.get_user()
        if not has_second_factor(user):
            return super().form_valid(form)
        self.request.session[PENDING_KEY] = {
            "user": user.pk,
            "backend": user.backend,
            "at": time.time(),
            "next": self.get_redirect_url(),
        }
        return redirect("login-code")


def pending_user(request: HttpRequest):
    pending = request.session.get(PENDING_KEY)
    if not pending or time.time() - pending["at"] > PENDING_SECONDS:
        return None, pending
    return get_user_model().objects.filter(pk=pending["user"], is_active=True).first(), pending


@require_http_methods(["GET", "POST"])
def login_code(request: HttpRequest) -> HttpResponse:
    """The second step of a password sign-in: a TOTP code or a recovery code."""
    user, pending = pending_user(request)
    if user is None:
        request.session.pop(PENDING_KEY, None)
        messages.info(request, "Sign in again: the code step timed out.")
        return redirect("login")
    error = ""
    if request.method == "POST":
        if method := second_factor_answer(request, user):
            del request.session[PENDING_KEY]
            stepup.mark_sign_in(request, method)
            auth_login(request, user, backend=pending["backend"])
            return redirect(safe_next(request, pending.get("next")))
        error = "That code is not right (or was used already)."
        audit.record(
            "login_failed",
            request=request,
            outcome="fail",
            actor_name=user.get_username(),
            username=user.get_username(),
            step="second_factor",
        )
    context = {
        "error": error,
        "has_codes": has_codes(user),
        "key_options": json.dumps(key_request_options(user)) if has_key(user) else None,
    }
    return render(request, "accounts/login_code.html", context)


def second_factor_answer(request: HttpRequest, user: User) -> str | None:
    """The method a posted code or security-key answer proves, or None."""
    if credential := request.POST.get("credential"):
        return "webauthn" if check_key(user, credential) else None
    return check_code(user, request.POST.get("code", ""))


def safe_next(request: HttpRequest, url: str | None) -> str:
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return reverse(settings.LOGIN_REDIRECT_URL)


@login_required
@require_GET
def account(request: HttpRequest) -> HttpResponse:
    user = stepup.signed_in(request)
    totp = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    codes = Authenticator.objects.filter(user=user, type=Authenticator.Type.RECOVERY_CODES)
    recovery = codes.first()
    admin_of = Membership.objects.filter(user=user, role=Role.ADMIN).select_related("team")
    policies = set(TeamPolicy.objects.filter(require_mfa=True).values_list("team_id", flat=True))
    context = {
        "keys": authenticators(user, Authenticator.Type.WEBAUTHN),
        "totp": totp,
        "unused_codes": len(recovery.wrap().get_unused_codes()) if recovery else 0,
        "sso_accounts": SocialAccount.objects.filter(user=user),
        "sso_name": settings.ZEKTOR_OIDC.name if settings.ZEKTOR_OIDC else "",
        "signed_in_with": request.session.get(SIGN_IN_METHOD_KEY, "password"),
        "required_by": teams_requiring_mfa(user),
        "admin_teams": [(m.team, m.team_id in policies) for m in admin_of],
        "proof_methods": stepup.proof_methods(user),
        "step_up_minutes": settings.ZEKTOR_STEP_UP_SECONDS // 60,
    }
    return render(request, "accounts/account.html", context)


def totp_qr_data_uri(request: HttpRequest, secret: str) -> tuple[str, str]:
    adapter = get_mfa_adapter()
    url = adapter.build_totp_url(stepup.signed_in(request), secret)
    svg = adapter.build_totp_svg(url)
    return url, "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


@login_required
@require_http_methods(["GET", "POST"])
@stepup.step_up_required
def totp_activate(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app: scan, confirm one code, get the recovery codes once."""
    user = stepup.signed_in(request)
    if authenticators(user, Authenticator.Type.TOTP).exists() or not user.has_usable_password():
        return redirect("account")  # SSO accounts: second factors are the provider's job
    form = ActivateTOTPForm(user=user, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        _, recovery = totp_flows.activate_totp(request, form)
        request.session.pop(ENROL_KEY, None)
        audit.record("mfa_enabled", request=request, method="totp")
        return render_codes(request, recovery or recovery_authenticator(user))
    url, qr = totp_qr_data_uri(request, form.secret)
    context = {"form": form, "secret": form.secret, "totp_url": url, "qr": qr}
    return render(request, "accounts/totp_activate.html", context)


@login_required
@require_POST
@stepup.step_up_required
def totp_remove(request: HttpRequest) -> HttpResponse:
    totp = authenticators(stepup.signed_in(request), Authenticator.Type.TOTP).first()
    return remove_factor(request, totp, "totp", totp_flows.deactivate_totp)


@login_required
@require_POST
@stepup.step_up_required
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """Show the unused recovery codes (a POST with a fresh proof: they are secrets)."""
    user = stepup.signed_in(request)
    if not has_second_factor(user):
        return redirect("account")
    if request.POST.get("new"):
        audit.record("recovery_codes_regenerated", request=request)
        return render_codes(request, generate_recovery_codes(request))
    audit.record("recovery_codes_viewed", request=request)
    return render_codes(request, recovery_authenticator(user))


@login_required
@require_POST
def step_up(request: HttpRequest) -> JsonResponse:
    """`{"code"}`, `{"password"}` or `{"credential"}` -> `{"method"}`: the dialog's proof."""
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        return JsonResponse({"error": "Send a JSON object."}, status=400)
    credential = body.get("credential")
    offered = stepup.Offered(
        code=str(body.get("code") or "").strip(),
        password=str(body.get("password") or ""),
        credential=json.dumps(credential) if isinstance(credential, dict) else "",
    )
    try:
        method = stepup.verify(request, offered)
    except stepup.ProofRefused as problem:
        return JsonResponse({"error": str(problem)}, status=400)
    return JsonResponse({"method": method})


@login_required
@require_GET
def step_up_resume(request: HttpRequest) -> HttpResponse:
    """Back from an SSO re-authentication: post the action that asked for it again."""
    action = request.session.pop(stepup.RESUME_KEY, None)
    if not action or not stepup.fresh_proof(request):
        return redirect(settings.LOGIN_REDIRECT_URL)
    return render(request, "accounts/step_up_resume.html", action)


@login_required
@require_POST
def team_security(request: HttpRequest, team_id: int) -> HttpResponse:
    team, _ = get_team_for(stepup.signed_in(request), team_id, Role.ADMIN)
    require = request.POST.get("require_mfa") == "on"
    policy, _ = TeamPolicy.objects.get_or_create(team=team)
    if policy.require_mfa != require:
        policy.require_mfa = require
        policy.save(update_fields=["require_mfa", "updated_at"])
        audit.record("team_policy_changed", request=request, team=team, require_mfa=require)
    state = "now requires" if require else "no longer requires"
    messages.success(request, f"{team.name} {state} a second factor for password sign-ins.")
    return redirect("account")
