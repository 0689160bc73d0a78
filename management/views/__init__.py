"""MSO business pages: locations and PCs, read through management.selectors only."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from management import selectors
from management.models import Location, ProfessionalCorporation
from tenants.access import AccessContext
from tenants.views import paginate, require_section, tenant_page


@tenant_page
def location_list(request: HttpRequest, ctx: AccessContext) -> HttpResponse:
    require_section(ctx, Location)
    page = paginate(request, selectors.location_list(ctx))
    return render(request, "management/location_list.html", {"page": page})


@tenant_page
def location_detail(request: HttpRequest, ctx: AccessContext, pk: str) -> HttpResponse:
    location = selectors.location_get(ctx, pk)
    return render(request, "management/location_detail.html", {"location": location})


@tenant_page
def pc_list(request: HttpRequest, ctx: AccessContext) -> HttpResponse:
    require_section(ctx, ProfessionalCorporation)
    page = paginate(request, selectors.pc_list(ctx))
    return render(request, "management/pc_list.html", {"page": page})


@tenant_page
def pc_detail(request: HttpRequest, ctx: AccessContext, pk: str) -> HttpResponse:
    pc = selectors.pc_get(ctx, pk)
    # Only the locations this capacity may see, through the same selector as the list page.
    locations = selectors.location_list(ctx).filter(pc=pc)
    return render(request, "management/pc_detail.html", {"pc": pc, "locations": locations})
