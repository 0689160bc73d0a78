"""Browser forms of the shell: sign-in, capacity choice, API key creation."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from tenants.models import Membership


class EmailAuthenticationForm(AuthenticationForm):
    """Django's sign-in form, labelled for our email login."""

    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email and password do not match an active account.",
    }


class CapacityChoiceForm(forms.Form):
    """Accepts only the id of a membership the user holds in this tenant (request.memberships)."""

    membership = forms.ChoiceField(
        error_messages={
            "required": "Choose a capacity.",
            "invalid_choice": "You do not hold that capacity in this organization.",
        }
    )

    def __init__(self, *args: Any, memberships: list[Membership], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.memberships = {str(m.pk): m for m in memberships}
        field = self.fields["membership"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(pk, m.capacity_spec.label) for pk, m in self.memberships.items()]

    def chosen(self) -> Membership:
        return self.memberships[self.cleaned_data["membership"]]


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        strip=True,
        error_messages={
            "required": "Give the key a name.",
            "max_length": "Keep the name under 100 characters.",
        },
        widget=forms.TextInput(attrs={"placeholder": "e.g. Booking sync", "autocomplete": "off"}),
    )
