"""E-mail through the server of ZEKTOR_EMAIL_URL, as plain text."""

from __future__ import annotations

import smtplib

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.smtp import EmailBackend

from alerts.channels import DeliveryError, Message
from alerts.models import Channel

TIMEOUT_SECONDS = 10


def connection() -> EmailBackend:
    """The SMTP server of ZEKTOR_EMAIL_URL, named explicitly: EMAIL_BACKEND may point
    elsewhere (Django's test runner swaps it for an in-memory outbox)."""
    server = settings.ZEKTOR_EMAIL_SERVER
    if server is None:
        raise DeliveryError("e-mail is off: set ZEKTOR_EMAIL_URL and ZEKTOR_EMAIL_FROM")
    return EmailBackend(
        host=server.host,
        port=server.port,
        username=server.username or None,
        password=server.password or None,
        use_tls=server.security == "starttls",
        use_ssl=server.security == "ssl",
        timeout=TIMEOUT_SECONDS,
        fail_silently=False,
    )


def body(message: Message) -> str:
    return (
        f"{message.message}\n\n"
        f"Team: {message.team}\n"
        f"Instance: {message.instance or '-'}\n"
        f"Event: {message.event} ({message.status})\n"
        f"At: {message.at.isoformat(timespec='seconds')}\n"
    )


class Transport:
    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def send(self, message: Message) -> None:
        mail = EmailMessage(
            subject=message.subject,
            body=body(message),
            from_email=settings.ZEKTOR_EMAIL_FROM,
            to=[self.channel.email],
            headers={"X-Zektor-Event": message.event, "X-Zektor-Alert": message.id},
            connection=connection(),
        )
        try:
            mail.send()
        except smtplib.SMTPAuthenticationError:
            raise DeliveryError("the mail server refused the login of ZEKTOR_EMAIL_URL") from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"the mail server refused it: {exc.smtp_code}") from None
        except smtplib.SMTPRecipientsRefused:
            raise DeliveryError(f"the mail server refused {self.channel.email}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(
                f"sending through the mail server failed: {type(exc).__name__}"
            ) from None
