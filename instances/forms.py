"""The instance form of Django admin and the portal: the model's validators plus a
write-only password that must be typed again before the instance points somewhere new."""

from __future__ import annotations

from typing import Any

from django import forms

from instances.access import Visitor, admin_teams
from instances.models import Instance
from instances.secrets import Purpose, SecretUnavailable, open_password
from instances.validation import CA_CERT_MAX_BYTES, validate_password_text

# Where the stored password is sent: changing any of these needs the password typed again.
DESTINATION_FIELDS = ("host", "port", "team")


class InstanceForm(forms.ModelForm):
    """The password field never renders the stored value. Changing the host, port or team of
    an existing instance requires the password, so someone who may not read the stored one
    cannot have it sent to a server of their choosing."""

    new_password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        validators=[validate_password_text],
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only. Leave blank to keep the current password.",
    )
    password_changed = False  # set by save()

    class Meta:
        model = Instance
        fields = [
            "name",
            "team",
            "engine",
            "tier",
            "status",
            "host",
            "port",
            "username",
            "new_password",
            "database",
            "sslmode",
            "tls",
            "ca_cert",
            "allow_md5",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            self.fields["new_password"].required = True
            self.fields["new_password"].help_text = "Write-only."
        else:
            self.fields["new_password"].help_text = (
                "Write-only. Leave blank to keep the current password; required when the "
                "host, port or team changes."
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        moved = [name for name in DESTINATION_FIELDS if name in self.changed_data]
        if self.instance.pk is not None and moved and not cleaned.get("new_password"):
            self.add_error(
                "new_password",
                f"Changing the {' and '.join(moved)} needs the password: type it again "
                "(the stored one is never sent to a new place).",
            )
        return cleaned

    def save(self, commit: bool = True) -> Instance:
        """Seals a typed password that differs from the stored one; `password_changed` says
        whether it did."""
        typed = self.cleaned_data.get("new_password")
        if typed and not self._stores(typed):
            self.instance.set_password(typed)
            self.password_changed = True
        return super().save(commit=commit)

    def _stores(self, password: str) -> bool:
        if self.instance.pk is None or not self.instance.password_sealed:
            return False
        try:
            return open_password(self.instance, Purpose.FORM) == password
        except SecretUnavailable:
            return False  # replaced by the typed password


class PortalInstanceForm(InstanceForm):
    """The instance form of the portal's team admins: teams limited to those they run, and
    the CA certificate pasted or uploaded."""

    ca_file = forms.FileField(
        label="Or upload the CA certificate",
        required=False,
        help_text="A PEM file (.pem, .crt) of at most 64 KiB; it replaces the pasted text.",
        widget=forms.ClearableFileInput(attrs={"accept": ".pem,.crt,.cer,application/x-pem-file"}),
    )
    port = forms.IntegerField(
        min_value=1, max_value=65535, help_text="5432 for PostgreSQL, 6379 for Valkey by default."
    )
    field_order = [*InstanceForm.Meta.fields[:-1], "ca_cert", "ca_file"]
    LABELS = {
        "sslmode": ("TLS mode", "verify-full checks the certificate's chain and host name."),
        "tls": ("Use TLS", "Off only for a server without TLS: its traffic is then unencrypted."),
        "name": ("Name", "Lowercase letters, digits and hyphens: used in URLs and variables."),
        "ca_cert": (
            "CA certificate (PEM)",
            "Paste the certificate of the private CA that signed the server's certificate; "
            "leave empty for a publicly trusted one. Certificates only: never a key.",
        ),
    }

    def __init__(self, *args: Any, user: Visitor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        team = self.fields["team"]
        assert isinstance(team, forms.ModelChoiceField)
        team.queryset = admin_teams(user)
        for name, (label, help_text) in self.LABELS.items():
            self.fields[name].label, self.fields[name].help_text = label, help_text

    def clean_ca_file(self) -> None:
        upload = self.cleaned_data.get("ca_file")
        if upload is None:
            return
        data = upload.read(CA_CERT_MAX_BYTES + 1)
        if len(data) > CA_CERT_MAX_BYTES:
            raise forms.ValidationError("The file is over 64 KiB: upload the CA certificate only.")
        try:
            self.cleaned_data["ca_cert"] = data.decode("ascii")
        except UnicodeDecodeError:
            raise forms.ValidationError(
                "The file is not a PEM text file: export the CA certificate as PEM."
            ) from None
