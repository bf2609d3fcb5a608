"""System checks for alert configuration that starts but is probably a mistake."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security)
def check_mail_login_over_tls(app_configs, **kwargs) -> list[Warning]:
    server = settings.ZEKTOR_EMAIL_SERVER
    if server is not None and server.password and server.security == "none":
        return [
            Warning(
                "ZEKTOR_EMAIL_URL sends the mail password without TLS (smtp://).",
                hint="Use smtp+tls:// (STARTTLS, port 587) or smtps:// (port 465).",
                id="zektor.alerts.W001",
            )
        ]
    return []
