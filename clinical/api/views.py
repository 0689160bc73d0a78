"""API endpoints for clinical records: clinical keys only, every chart returned is audit-logged."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from clinical import services
from clinical.api.serializers import PatientChartSerializer
from clinical.filters import PatientChartFilter
from clinical.models import PatientChart
from clinical.selectors import log_reads
from tenants.api.viewsets import ReadCreateTenantViewSet


class PatientChartViewSet(ReadCreateTenantViewSet[PatientChart]):
    """Patient charts of the PCs the key's membership is granted. Business keys get 404."""

    queryset = PatientChart.objects.all()
    serializer_class = PatientChartSerializer
    filterset_class = PatientChartFilter
    ordering_fields = ["patient_name", "medical_record_number", "date_of_birth"]

    def paginate_queryset(self, queryset: Any) -> list[Any] | None:
        page = super().paginate_queryset(queryset)
        # Log exactly the charts this response shows, in one insert (query count stays flat).
        log_reads(self.access, list(page) if page is not None else list(queryset))
        return page

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        chart = self.get_object()
        log_reads(self.access, [chart])
        return Response(self.get_serializer(chart).data)

    def create_object(self, data: dict[str, Any]) -> PatientChart:
        return services.patient_chart_create(ctx=self.access, **data)

    def perform_create(self, serializer: BaseSerializer[PatientChart]) -> None:
        super().perform_create(serializer)
        assert serializer.instance is not None
        log_reads(self.access, [serializer.instance])  # the created chart is returned, so it is read
