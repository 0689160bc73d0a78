"""PC clinical pages: patient charts, for clinical capacities only; every chart shown is audit-logged."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from clinical import selectors
from clinical.models import PatientChart
from tenants.access import AccessContext
from tenants.views import paginate, require_section, tenant_page


@tenant_page
def chart_list(request: HttpRequest, ctx: AccessContext) -> HttpResponse:
    # Checked before any query: a business capacity must never reach the clinical schema.
    require_section(ctx, PatientChart)
    page = paginate(request, selectors.patient_chart_list(ctx))
    charts = list(page.object_list)
    selectors.log_reads(ctx, charts)
    return render(request, "clinical/chart_list.html", {"page": page, "charts": charts})


@tenant_page
def chart_detail(request: HttpRequest, ctx: AccessContext, pk: str) -> HttpResponse:
    require_section(ctx, PatientChart)
    chart = selectors.patient_chart_get(ctx, pk)  # logs the read
    return render(request, "clinical/chart_detail.html", {"chart": chart})
