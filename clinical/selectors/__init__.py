"""Reads of clinical records: through the permission layer, and every record shown is audit-logged."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from clinical.models import PatientChart
from tenants.access import AccessContext, get_for_action, restrict
from tenants.audit import record_clinical_reads


def patient_chart_list(ctx: AccessContext) -> QuerySet[PatientChart]:
    """Unevaluated queryset; callers log what they display with ``log_reads``."""
    return restrict(PatientChart.objects.select_related("pc", "home_location"), ctx)


def patient_chart_get(ctx: AccessContext, pk: Any, action: str = "view") -> PatientChart:
    chart = get_for_action(PatientChart, ctx, pk, action)
    if action == "view":
        record_clinical_reads(ctx, [chart])
    return chart


def log_reads(ctx: AccessContext, charts: list[Any]) -> None:
    record_clinical_reads(ctx, charts)
