"""The rules every stored instance value obeys, whichever way it arrives: import_instances,
Django admin and the portal's forms. Model field validators and ``Instance.clean()`` call
these, so ModelForms and ``full_clean()`` apply them; the importer turns their
ValidationError into "record N (name): field 'x': ..." messages."""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from django.core.exceptions import ValidationError

from instances.escaping import CONTROL_CHARACTER
from instances.outbound import always_refused

if TYPE_CHECKING:
    from instances.models import Instance

CA_CERT_MAX_BYTES = 64 * 1024
SHOWN_CHARACTERS = 40
HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.?)+$")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_PEM_LABEL = re.compile(r"-----BEGIN ([^-\r\n]{1,64})-----")
_CHARACTER_NAMES = {"\t": "tab", "\n": "line feed", "\r": "carriage return", "\x1b": "escape"}


def short(text: str) -> str:
    """At most a few dozen characters of ``text`` for a message, control characters and
    broken Unicode shown as U+FFFD."""
    shown = _SURROGATE.sub("\ufffd", CONTROL_CHARACTER.sub("\ufffd", text[:SHOWN_CHARACTERS]))
    return shown + ("…" if len(text) > SHOWN_CHARACTERS else "")


def describe(value: Any) -> str:
    """A short stand-in for a bad value in a message: its type, or a truncated repr."""
    if not isinstance(value, str):
        return f"a value of type {type(value).__name__}"
    return repr(short(value))


def text_problem(value: str) -> str | None:
    """Why a stored text cannot be used (a control character or broken Unicode), or None.
    Never quotes the value: it may be a password."""
    if match := CONTROL_CHARACTER.search(value):
        char = match.group()
        name = _CHARACTER_NAMES.get(char, "control character")
        return f"holds a control character (U+{ord(char):04X}, {name}) that no client can be given"
    if _SURROGATE.search(value):
        return "holds an unpaired surrogate, which is not valid Unicode text"
    return None


def refuse_control_characters(value: str) -> None:
    if problem := text_problem(value):
        raise ValidationError(f"This value {problem}.", code="control_character")


def validate_password_text(value: str) -> None:
    """Any printable character, spaces and non-ASCII included; no control characters."""
    if problem := text_problem(value):
        raise ValidationError(f"The password {problem}.", code="control_character")


def validate_host(value: str) -> None:
    refuse_control_characters(value)
    if not (HOSTNAME.match(value) or _is_ip_address(value)):
        raise ValidationError(f"{describe(value)} is not a host name or IP address.", code="host")
    if reason := always_refused(value):
        raise ValidationError(f"{reason}: the portal never connects there.", code="refused_host")


def _is_ip_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def certificates_only(pem: str) -> str:
    """The certificates of ``pem`` re-serialised, nothing else; ValidationError for a private
    key, any other PEM block, text that holds no certificate, or more than 64 KiB."""
    size = len(pem.encode("utf-8", "surrogatepass"))
    if size > CA_CERT_MAX_BYTES:
        raise ValidationError(
            f"The CA certificate is {size} bytes; at most {CA_CERT_MAX_BYTES // 1024} KiB "
            "of certificates are accepted.",
            code="too_large",
        )
    labels = _PEM_LABEL.findall(pem)
    if "PRIVATE KEY" in pem.upper():
        raise ValidationError(
            "This holds a private key. Paste only the CA's certificate (BEGIN CERTIFICATE "
            "blocks); never share the key, and replace it if it was exposed.",
            code="private_key",
        )
    if other := next((label for label in labels if label != "CERTIFICATE"), None):
        raise ValidationError(
            f"This holds a {describe(other)} block; only CERTIFICATE blocks belong here.",
            code="not_certificate",
        )
    try:
        certificates = x509.load_pem_x509_certificates(pem.encode("utf-8"))
    except (ValueError, UnicodeEncodeError):
        raise ValidationError(
            "This is not a PEM certificate (-----BEGIN CERTIFICATE----- ...).", code="not_pem"
        ) from None
    return "".join(cert.public_bytes(Encoding.PEM).decode("ascii") for cert in certificates)


def snippet_problem(instance: Instance, password: str | None = None) -> str | None:
    """What stops the instance's snippets from being written, said so an admin can fix it."""
    values = {"host": instance.host, "username": instance.username, "database": instance.database}
    if password is not None:
        values["password"] = password
    for field, value in values.items():
        if problem := text_problem(value):
            fix = (
                "set a new password for it (Django admin or import_instances)"
                if field == "password"
                else f"correct its {field} (Django admin or import_instances)"
            )
            return f"The stored {field} of {instance.name} {problem}. An admin should {fix}."
    return None
