"""Forms of the second-factor pages: a TOTP code, a recovery code."""

from __future__ import annotations

import re

from django import forms

from tenants.security.models import RECOVERY_CODE_LENGTH, normalize_recovery_code

TOTP_CODE = re.compile(r"^\d{6}$")


class TotpCodeForm(forms.Form):
    token = forms.CharField(
        label="Authentication code",
        max_length=16,
        strip=True,
        error_messages={"required": "Enter the 6-digit code from your authenticator app."},
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autofocus": True,
                "placeholder": "123456",
            }
        ),
    )

    def clean_token(self) -> str:
        token = "".join(str(self.cleaned_data["token"]).split())
        if not TOTP_CODE.match(token):
            raise forms.ValidationError("Enter the 6-digit code from your authenticator app.")
        return token


class RecoveryCodeForm(forms.Form):
    recovery_code = forms.CharField(
        label="Recovery code",
        max_length=64,
        strip=True,
        error_messages={"required": "Enter one of your recovery codes."},
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "abcde-23456"}),
    )

    def clean_recovery_code(self) -> str:
        code = normalize_recovery_code(str(self.cleaned_data["recovery_code"]))
        if len(code) != RECOVERY_CODE_LENGTH:
            raise forms.ValidationError(
                "A recovery code has 10 letters and digits, like abcde-23456 (dashes are optional)."
            )
        return code
