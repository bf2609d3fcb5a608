from __future__ import annotations

from django import forms

from alerts.models import ChannelKind, TeamAlertSettings


class ChannelForm(forms.Form):
    kind = forms.ChoiceField(label="Kind", choices=ChannelKind.choices)
    target = forms.CharField(
        label="E-mail address or webhook URL",
        max_length=2000,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "spellcheck": "false",
                "aria-describedby": "id_target-help",
            }
        ),
        help_text="A Slack URL is a credential: it is stored encrypted and never shown again.",
    )


class AlertSettingsForm(forms.ModelForm):
    failure_threshold = forms.IntegerField(
        label="Failed checks in a row before an instance counts as failing",
        min_value=1,
        max_value=20,
    )
    rotation_policy_days = forms.IntegerField(
        label="Alert when a password is older than (days)",
        min_value=1,
        max_value=3650,
        required=False,
        help_text="Leave empty for no rotation policy.",
    )

    class Meta:
        model = TeamAlertSettings
        fields = ["failure_threshold", "rotation_policy_days", "daily_digest"]
        labels = {"daily_digest": "Send one digest a day instead of each alert"}
