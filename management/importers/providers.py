"""CSV import of providers and their credentials (engine: tenants.imports; all rows or none).

The PC of each row is named by its legal name or its id, and found only among the PCs the importing
capacity may view: another tenant's PC, or one the capacity is not granted, is "unknown" exactly
like a PC that does not exist. Rows are written by management.services.workforce.provider_create,
so an import obeys every rule a single create does.

The small cell parsers here (dates, yes/no, choices by code or label, references by name or id) are
shared with the client import (management.importers.clients).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Model

from management.models import ProfessionalCorporation, Provider
from management.procedures import LicenseStatus, LicenseType
from management.services.workforce import provider_create
from tenants.access import AccessContext, restrict
from tenants.capacities import VIEW
from tenants.imports import Column, Importer

DATE_FORMATS = ["%Y-%m-%d", "%m/%d/%Y"]
YES = frozenset({"yes", "y", "true", "1", "x"})
NO = frozenset({"no", "n", "false", "0"})


# --- cell parsers ----------------------------------------------------------------------------------


class DateCell(forms.DateField):
    default_error_messages = {"invalid": "Write the date as YYYY-MM-DD (or MM/DD/YYYY)."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(input_formats=DATE_FORMATS, **kwargs)


class YesNoCell(forms.CharField):
    """yes/no (also y/n, true/false, 1/0, x); blank is None: the service's default applies."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, max_length=5, **kwargs)

    def clean(self, value: Any) -> bool | None:
        word = str(super().clean(value) or "").strip().lower()
        if not word:
            return None
        if word in YES:
            return True
        if word in NO:
            return False
        raise ValidationError("Write yes or no.")


class ChoiceCell(forms.CharField):
    """A choice written as its code ("MD") or its label ("Physician (MD)"), in any case."""

    def __init__(self, choices: Iterable[tuple[str, str]], **kwargs: Any) -> None:
        self.choices = list(choices)
        super().__init__(**kwargs)

    def clean(self, value: Any) -> str:
        text = str(super().clean(value) or "").strip()
        if not text:
            return ""
        wanted = text.casefold()
        for code, label in self.choices:
            if wanted in (str(code).casefold(), str(label).casefold()):
                return str(code)
        codes = ", ".join(str(code) for code, _ in self.choices)
        raise ValidationError(f"Not one of: {codes}.")


def given(cleaned: dict[str, Any]) -> dict[str, Any]:
    """The cells that hold a value: blank optional cells leave the service's defaults in place."""
    return {k: v for k, v in cleaned.items() if v not in (None, "")}


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


class VisibleByName:
    """The objects of one model the importing capacity may view, looked up by id or by name.

    Built once per import (Importer.prepare): a row naming anything else — another tenant's object, an
    object outside the capacity's PCs/locations, a typo — gets the same "unknown" answer.
    """

    def __init__(self, ctx: AccessContext, model: type[Model], name_attr: str, what: str) -> None:
        self.what = what
        self.by_id: dict[str, Any] = {}
        self.by_name: dict[str, list[Any]] = defaultdict(list)
        for obj in restrict(model._default_manager.all(), ctx, VIEW):
            self.by_id[str(obj.pk)] = obj
            self.by_name[_key(getattr(obj, name_attr))].append(obj)

    def find(self, text: str) -> Any:
        text = text.strip()
        found = self.by_id.get(text.lower()) or None
        if found is not None:
            return found
        named = self.by_name.get(_key(text), [])
        if len(named) == 1:
            return named[0]
        if named:
            raise ValidationError(f"{len(named)} {self.what}s are named “{text}”: write its id instead.")
        raise ValidationError(f"Unknown {self.what} “{text}”: not one you may use. Write its name or id.")


# --- providers -------------------------------------------------------------------------------------


class ProviderRow(forms.Form):
    pc = forms.CharField(max_length=200)
    full_name = forms.CharField(max_length=200)
    email = forms.EmailField(required=False)
    license_type = ChoiceCell(LicenseType.choices, max_length=60)
    license_number = forms.CharField(max_length=40)
    license_state = forms.CharField(max_length=2, required=False)
    license_status = ChoiceCell(LicenseStatus.choices, max_length=60, required=False)
    license_expires_on = DateCell()
    dea_number = forms.CharField(max_length=9, required=False)
    dea_expires_on = DateCell(required=False)
    cures_expires_on = DateCell(required=False)
    np_furnishing_number = forms.CharField(max_length=20, required=False)
    np_furnishing_expires_on = DateCell(required=False)
    np_independent_103_104 = YesNoCell()
    pa_practice_agreement_signed_on = DateCell(required=False)
    pa_practice_agreement_expires_on = DateCell(required=False)
    active = YesNoCell()


class ProviderImporter(Importer):
    name = "Providers"
    columns = (
        Column("pc", example="Rivera Medical Corporation", help="The PC's legal name (or its id)."),
        Column("full_name", example="Dana Rivera, NP"),
        Column("email", required=False, example="dana.rivera@example.com"),
        Column("license_type", example="NP", help="MD, DO, NP, PA, RN, LVN, MA or esthetician."),
        Column("license_number", example="95001234"),
        Column("license_state", required=False, example="CA", help="Two-letter code; CA when blank."),
        Column("license_status", required=False, example="active", help="active when blank."),
        Column("license_expires_on", example="2027-03-31", help="YYYY-MM-DD or MM/DD/YYYY."),
        Column("dea_number", required=False, example="", help="Two letters and seven digits."),
        Column("dea_expires_on", required=False),
        Column("cures_expires_on", required=False),
        Column("np_furnishing_number", required=False, example="95009876", help="Nurse practitioners only."),
        Column("np_furnishing_expires_on", required=False, example="2027-03-31"),
        Column("np_independent_103_104", required=False, example="no", help="yes or no (NPs only)."),
        Column("pa_practice_agreement_signed_on", required=False, help="Physician assistants only."),
        Column("pa_practice_agreement_expires_on", required=False),
        Column("active", required=False, example="yes", help="yes when blank."),
    )
    form_class = ProviderRow
    unique_columns = (("license_state", "license_type", "license_number"),)

    def prepare(self, ctx: AccessContext) -> None:
        self.pcs = VisibleByName(ctx, ProfessionalCorporation, "legal_name", "PC")

    def clean_row(self, ctx: AccessContext, row: dict[str, str]) -> dict[str, Any]:
        form = ProviderRow(data=row)
        errors: dict[str, Any] = {} if form.is_valid() else dict(form.errors.as_data())
        cleaned = dict(form.cleaned_data)
        if "pc" not in errors:
            try:
                cleaned["pc"] = self.pcs.find(row["pc"])
            except ValidationError as exc:
                errors["pc"] = exc.messages
        if not errors:
            # Every rule of a single create, checked now so one upload lists every row's problems.
            try:
                provider_create(ctx=ctx, commit=False, **given(cleaned))
            except ValidationError as exc:
                errors.update(exc.message_dict)
        if errors:
            raise ValidationError(errors)
        return cleaned

    def create(self, ctx: AccessContext, cleaned: dict[str, Any]) -> Provider:
        return provider_create(ctx=ctx, **given(cleaned))
