"""CSV import of PC collections per month (engine: tenants.imports; all rows or none).

Columns: ``pc`` (the PC's legal name or its id), ``month`` (YYYY-MM), ``amount``, ``currency`` (USD
when blank). The PC is found only among the PCs the importing capacity may view: another tenant's PC,
or one the capacity is not granted, is "unknown" exactly like a PC that does not exist. Rows are
written by management.services.agreements.pc_collection_create (source "imported"), so an import
obeys every rule a single entry does; a month already recorded for a PC is refused before anything
is written, and so is a PC the capacity may see but not write for.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError

from management.importers.providers import VisibleByName
from management.models import PcCollection, ProfessionalCorporation
from management.services.agreements import pc_collection_create
from tenants.access import AccessContext, restrict
from tenants.capacities import CHANGE
from tenants.imports import Column, Importer

MONTH = re.compile(r"(?P<year>\d{4})-(?P<month>\d{1,2})(?:-\d{1,2})?")
# Spreadsheets write amounts as "$180,000.00": the symbol and the thousands separators go.
AMOUNT_NOISE = re.compile(r"[$,\s]")


def parse_month(text: str) -> dt.date:
    match = MONTH.fullmatch(text.strip())
    if match is None:
        raise ValidationError("Write the month as YYYY-MM, e.g. 2025-03.")
    try:
        return dt.date(int(match["year"]), int(match["month"]), 1)
    except ValueError:
        raise ValidationError("Write the month as YYYY-MM, e.g. 2025-03.") from None


def parse_amount(text: str) -> Decimal:
    try:
        amount = Decimal(AMOUNT_NOISE.sub("", text))
    except InvalidOperation:
        raise ValidationError("Write the amount as a number, e.g. 182500.00.") from None
    if not amount.is_finite():
        raise ValidationError("Write the amount as a number, e.g. 182500.00.")
    if amount < 0:
        raise ValidationError("Collections cannot be negative.")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValidationError("Give the amount in dollars and cents (at most two decimals).")
    if amount >= Decimal("1e12"):
        raise ValidationError("The amount is too large for one month's collections.")
    return amount


class CollectionImporter(Importer):
    name = "PC collections"
    columns = (
        Column("pc", example="Rivera Medical Corporation", help="The PC's legal name (or its id)."),
        Column("month", example="2025-03", help="YYYY-MM; a full date counts as its month."),
        Column("amount", example="182500.00", numeric=True, help="What the PC collected that month."),
        Column("currency", required=False, example="USD", help="Three letters; USD when blank."),
    )
    # No unique_columns: a PC named once by name and once by id is the same PC; clean_row compares
    # the PCs and months it resolved instead of the text.

    def prepare(self, ctx: AccessContext) -> None:
        self.pcs = VisibleByName(ctx, ProfessionalCorporation, "legal_name", "PC")
        self.writable = set(
            restrict(ProfessionalCorporation.objects.all(), ctx, CHANGE).values_list("pk", flat=True)
        )
        visible = list(self.pcs.by_id.values())
        self.recorded = set(PcCollection.objects.filter(pc__in=visible).values_list("pc_id", "month"))
        self.seen: set[tuple[Any, dt.date]] = set()

    def clean_row(self, ctx: AccessContext, row: dict[str, str]) -> dict[str, Any]:
        errors: dict[str, list[str]] = {}
        cleaned: dict[str, Any] = {}
        for name, parse in (("pc", self.pcs.find), ("month", parse_month), ("amount", parse_amount)):
            if not row[name]:
                errors[name] = ["This field is required."]
                continue
            try:
                cleaned[name] = parse(row[name])
            except ValidationError as exc:
                errors[name] = exc.messages
        currency = row["currency"].upper() or "USD"
        if len(currency) != 3 or not currency.isalpha():
            errors["currency"] = ["Use the three-letter currency code, e.g. USD."]
        cleaned["currency"] = currency
        pc, month = cleaned.get("pc"), cleaned.get("month")
        if pc is not None and pc.pk not in self.writable:
            errors["pc"] = ["Your capacity may not record collections for this PC."]
        elif pc is not None and month is not None:
            if (pc.pk, month) in self.recorded:
                errors["month"] = [f"{pc.legal_name} already has collections for {month:%B %Y}."]
            elif (pc.pk, month) in self.seen:
                errors["month"] = [f"{pc.legal_name} appears twice for {month:%B %Y} in this file."]
            self.seen.add((pc.pk, month))
        if errors:
            raise ValidationError(errors)
        return cleaned

    def create(self, ctx: AccessContext, cleaned: dict[str, Any]) -> PcCollection:
        return pc_collection_create(ctx=ctx, source=PcCollection.Source.IMPORTED, **cleaned)
