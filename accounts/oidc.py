"""allauth's OpenID Connect provider, made strict: a nonce in every authorization request,
and the ID token's signature checked against the provider's keys even when it came straight
from the token endpoint (allauth skips that by default, relying on TLS alone).

Discovery, state, PKCE (S256) and the issuer, audience and expiry checks are allauth's own.
"""

from __future__ import annotations

import secrets
from typing import Any

import requests
from allauth.socialaccount.helpers import render_authentication_error
from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter

NONCE_KEY = "nonce"


class PortalOIDCAdapter(OpenIDConnectOAuth2Adapter):
    def _decode_id_token(self, app, id_token: str) -> dict:
        return jwtkit.verify_and_decode(
            credential=id_token,
            keys_url=self.openid_config["jwks_uri"],
            issuer=self.openid_config["issuer"],
            audience=app.client_id,
            lookup_kid=jwtkit.lookup_kid_jwk,
            verify_signature=True,
        )


class PortalOIDCProvider(OpenIDConnectProvider):
    oauth2_adapter_class = PortalOIDCAdapter

    def redirect(self, request, process, next_url=None, data=None, **kwargs: Any):
        """Send a fresh nonce and keep it in the (session-bound) state for the callback."""
        nonce = secrets.token_urlsafe(32)
        auth_params = kwargs.pop("auth_params", None)
        auth_params = self.get_auth_params() if auth_params is None else auth_params
        auth_params[NONCE_KEY] = nonce
        try:
            return super().redirect(
                request, process, next_url, data, auth_params=auth_params, nonce=nonce, **kwargs
            )
        except requests.RequestException as problem:  # discovery failed: provider down
            return render_authentication_error(request, self, exception=problem)


def claims_of(sociallogin) -> dict:
    """The ID token's claims with the userinfo claims over them."""
    extra = sociallogin.account.extra_data or {}
    return {**(extra.get("id_token") or {}), **(extra.get("userinfo") or {})}


def id_token_of(sociallogin) -> dict:
    return (sociallogin.account.extra_data or {}).get("id_token") or {}
