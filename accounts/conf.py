"""allauth settings derived from ZEKTOR_OIDC_* (imported by settings.py: no models here)."""

from __future__ import annotations

from zektor_portal.env import OIDCConfig

PROVIDER_ID = "sso"
PROVIDER_CLASS = "accounts.oidc.PortalOIDCProvider"


def socialaccount_providers(oidc: OIDCConfig | None) -> dict:
    """SOCIALACCOUNT_PROVIDERS for one OpenID Connect app (none when SSO is off)."""
    apps = []
    if oidc is not None:
        apps.append(
            {
                "provider_id": PROVIDER_ID,
                "name": oidc.name,
                "client_id": oidc.client_id,
                "secret": oidc.client_secret,
                "settings": {
                    "server_url": oidc.issuer,
                    "scope": list(oidc.scopes),
                    "oauth_pkce_enabled": True,
                    "fetch_userinfo": True,
                },
            }
        )
    return {"openid_connect": {"provider_class": PROVIDER_CLASS, "APPS": apps}}
