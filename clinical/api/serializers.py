"""Representations of clinical records. The tenant is never a field: it comes from the API key."""

from __future__ import annotations

from rest_framework import serializers

from clinical.models import PatientChart
from management.models import Location, ProfessionalCorporation
from tenants.api.fields import ScopedPrimaryKeyRelatedField

# The column is unbounded text; through the API a chart's allergies are a note, not a document.
ALLERGIES_MAX_LENGTH = 10_000


class PatientChartSerializer(serializers.ModelSerializer[PatientChart]):
    pc = ScopedPrimaryKeyRelatedField(queryset=ProfessionalCorporation.objects.all())
    home_location = ScopedPrimaryKeyRelatedField(queryset=Location.objects.all())
    allergies = serializers.CharField(max_length=ALLERGIES_MAX_LENGTH, allow_blank=True, required=False)

    class Meta:
        model = PatientChart
        fields = [
            "id",
            "pc",
            "home_location",
            "medical_record_number",
            "patient_name",
            "date_of_birth",
            "allergies",
        ]
        read_only_fields = ["id"]
