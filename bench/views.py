"""Bench-only endpoints: the bare baseline and the product endpoint without its read log.

- ``BarePatientChartList``: a plain DRF ListAPIView over the same rows the benchmark's clinical key
  sees, with the product's serializer, pagination, filterset and ordering, but no authentication,
  no tenancy, no role switch, no permission layer and no per-key rate limit. It reads as the
  connection's login role (the table owner), in autocommit (no request transaction). Its rows are
  named by ``BENCH_BARE_TENANT_ID`` and ``BENCH_BARE_PC_IDS``, which bench/load.py sets to the
  tenant and the PCs the clinical key is granted.
- ``PatientChartNoReadLogViewSet``: the product viewset minus the clinical read log, to split the
  overhead between tenancy/roles/permissions and the audit log of reads.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet
from rest_framework import generics
from rest_framework.permissions import AllowAny

from clinical.api.serializers import PatientChartSerializer
from clinical.api.views import PatientChartViewSet
from clinical.filters import PatientChartFilter
from clinical.models import PatientChart
from tenants.api.pagination import Pagination


def bare_scope() -> tuple[uuid.UUID, list[uuid.UUID]]:
    tenant = os.environ.get("BENCH_BARE_TENANT_ID", "")
    pcs = [pc for pc in os.environ.get("BENCH_BARE_PC_IDS", "").split(",") if pc]
    if not tenant or not pcs:
        raise ImproperlyConfigured("BENCH_BARE_TENANT_ID and BENCH_BARE_PC_IDS name the bare endpoint's rows")
    return uuid.UUID(tenant), [uuid.UUID(pc) for pc in pcs]


class BarePatientChartList(generics.ListAPIView[PatientChart]):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes: list[Any] = []
    serializer_class = PatientChartSerializer
    pagination_class = Pagination
    filterset_class = PatientChartFilter
    ordering_fields = PatientChartViewSet.ordering_fields

    def get_queryset(self) -> QuerySet[PatientChart]:
        tenant, pcs = bare_scope()
        return PatientChart.objects.filter(tenant_id=tenant, pc_id__in=pcs)


class PatientChartNoReadLogViewSet(PatientChartViewSet):
    def paginate_queryset(self, queryset: Any) -> list[Any] | None:
        # Skips PatientChartViewSet.paginate_queryset (which logs the reads), keeps everything else.
        return super(PatientChartViewSet, self).paginate_queryset(queryset)
