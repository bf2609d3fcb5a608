"""Every sign-in records its proof for step-up; an SSO sign-in also syncs team roles."""

from __future__ import annotations

from typing import Any

from allauth.account.signals import user_logged_in as allauth_logged_in
from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from accounts import stepup
from accounts.factors import ask_to_enrol
from accounts.oidc import claims_of
from accounts.policy import SIGN_IN_METHOD_KEY
from accounts.teamroles import groups_from, sync_memberships


@receiver(user_logged_in, dispatch_uid="accounts.record_sign_in_proof")
def record_sign_in_proof(sender: Any, request, user, **kwargs: Any) -> None:
    """How the user signed in: a password unless a second-factor or SSO view said otherwise."""
    if request is None or not hasattr(request, "session"):
        return
    method, at = stepup.sign_in_proof(request)
    request.session[SIGN_IN_METHOD_KEY] = method
    stepup.record_proof(request, method, at)
    ask_to_enrol(request, user, method)


@receiver(allauth_logged_in, dispatch_uid="accounts.sync_sso_teams")
def sync_sso_teams(sender: Any, request, user, sociallogin=None, **kwargs: Any) -> None:
    if sociallogin is None or settings.ZEKTOR_OIDC is None:
        return
    groups = groups_from(claims_of(sociallogin), settings.ZEKTOR_OIDC.groups_claim)
    sync_memberships(request, user, groups)
