"""Writes of clinical records. Only clinical capacities reach them (and only their granted PCs)."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clinical.models import PatientChart
from management.models import Location, ProfessionalCorporation
from tenants.access import AccessContext
from tenants.capacities import ADD
from tenants.writes import require_in_scope, require_may


@transaction.atomic
def patient_chart_create(
    *,
    ctx: AccessContext,
    pc: ProfessionalCorporation,
    home_location: Location,
    medical_record_number: str,
    patient_name: str,
    date_of_birth: dt.date,
    allergies: str = "",
) -> PatientChart:
    """Open a patient's chart, kept by `pc`, for a patient seen at `home_location`.

    Clinical capacities only view business records (Capacity.may), so the PC and the location must
    be inside what ctx may *view*; whether ctx may add charts to that PC is the caller's re-check
    through the permission layer.
    """
    require_may(ctx, PatientChart, ADD)
    require_in_scope(ctx, pc, "pc")
    require_in_scope(ctx, home_location, "home_location")
    if home_location.pc_id != pc.pk:
        raise ValidationError({"home_location": "This location's clinical services come from another PC."})
    if date_of_birth > timezone.localdate():
        raise ValidationError({"date_of_birth": "The date of birth is in the future."})
    mrn = medical_record_number.strip()
    # The number is unique per tenant, whichever PC keeps the chart; RLS limits this to ctx's tenant.
    if PatientChart.objects.filter(tenant=ctx.tenant, medical_record_number=mrn).exists():
        raise ValidationError({"medical_record_number": "A chart with this record number already exists."})
    chart = PatientChart(
        tenant=ctx.tenant,
        pc=pc,
        home_location=home_location,
        medical_record_number=mrn,
        patient_name=patient_name.strip(),
        date_of_birth=date_of_birth,
        allergies=allergies,
    )
    chart.full_clean()
    chart.save()
    return chart
