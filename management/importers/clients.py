"""CSV import of front-desk clients (engine: tenants.imports; all rows or none).

The home location of each row is named by its name or its id, and found only among the locations the
importing capacity may view: another tenant's location, or one the capacity is not granted, is
"unknown" exactly like one that does not exist. Rows are written by
management.services.frontdesk.client_create, so an import obeys every rule a single create does.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from management.importers.providers import ChoiceCell, DateCell, VisibleByName, YesNoCell, given
from management.models import Client, Location
from management.services.frontdesk import client_create
from tenants.access import AccessContext
from tenants.imports import PHONE, Column, Importer


class ClientRow(forms.Form):
    home_location = forms.CharField(max_length=200)
    full_name = forms.CharField(max_length=200)
    email = forms.EmailField(required=False)
    phone = forms.CharField(max_length=30, required=False)
    date_of_birth = DateCell(required=False)
    lead_source = ChoiceCell(Client.LeadSource.choices, max_length=40, required=False)
    marketing_opt_in = YesNoCell()


class ClientImporter(Importer):
    name = "Clients"
    columns = (
        Column("home_location", example="Glow Med Spa La Jolla", help="The location's name (or its id)."),
        Column("full_name", example="Maya Chen"),
        Column("email", required=False, example="maya.chen@example.com"),
        Column("phone", required=False, example="+1 619 555 0142", sign_pattern=PHONE),
        Column("date_of_birth", required=False, example="1988-07-14", help="YYYY-MM-DD or MM/DD/YYYY."),
        Column(
            "lead_source",
            required=False,
            example="instagram",
            help="instagram, google, referral, walk_in, event, website or other (other when blank).",
        ),
        Column("marketing_opt_in", required=False, example="yes", help="yes or no (no when blank)."),
    )
    form_class = ClientRow

    def prepare(self, ctx: AccessContext) -> None:
        self.locations = VisibleByName(ctx, Location, "name", "location")

    def clean_row(self, ctx: AccessContext, row: dict[str, str]) -> dict[str, Any]:
        form = ClientRow(data=row)
        errors: dict[str, Any] = {} if form.is_valid() else dict(form.errors.as_data())
        cleaned = dict(form.cleaned_data)
        if "home_location" not in errors:
            try:
                cleaned["home_location"] = self.locations.find(row["home_location"])
            except ValidationError as exc:
                errors["home_location"] = exc.messages
        if not errors:
            try:
                client_create(ctx=ctx, commit=False, **given(cleaned))
            except ValidationError as exc:
                errors.update(exc.message_dict)
        if errors:
            raise ValidationError(errors)
        return cleaned

    def create(self, ctx: AccessContext, cleaned: dict[str, Any]) -> Client:
        return client_create(ctx=ctx, **given(cleaned))
