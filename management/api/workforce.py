"""API of the workforce area: vendors, BAAs, staff, training records and provider credentials.

Scoping and permissions live in the base viewset; writes go through management.services.workforce.
References are ids resolved only among objects the key may view (400 otherwise).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers

from management.filters.workforce import (
    BusinessAssociateAgreementFilter,
    ProviderFilter,
    StaffMemberFilter,
    TrainingRecordFilter,
    VendorFilter,
)
from management.models import (
    BusinessAssociateAgreement,
    Location,
    MsoEntity,
    ProfessionalCorporation,
    Provider,
    StaffMember,
    TrainingRecord,
    Vendor,
)
from management.selectors import workforce as selectors
from management.services import workforce as services
from tenants.access import AccessContext
from tenants.api.fields import ScopedPrimaryKeyRelatedField
from tenants.api.viewsets import ReadWriteTenantViewSet
from tenants.models import Membership

# --- serializers --------------------------------------------------------------------------------


class VendorSerializer(serializers.ModelSerializer[Vendor]):
    has_current_baa = serializers.SerializerMethodField(help_text="A signed BAA is in force today (BAA-001).")

    class Meta:
        model = Vendor
        fields = ["id", "name", "service", "handles_phi", "fee_basis", "fee_amount", "has_current_baa"]
        read_only_fields = ["id"]

    def get_has_current_baa(self, obj: Vendor) -> bool:
        return selectors.vendor_has_current_baa(obj)


class BusinessAssociateAgreementSerializer(serializers.ModelSerializer[BusinessAssociateAgreement]):
    vendor = ScopedPrimaryKeyRelatedField(queryset=Vendor.objects.all())

    class Meta:
        model = BusinessAssociateAgreement
        fields = ["id", "vendor", "signed_on", "expires_on", "document_reference"]
        read_only_fields = ["id"]


class StaffMemberSerializer(serializers.ModelSerializer[StaffMember]):
    employer = ScopedPrimaryKeyRelatedField(queryset=MsoEntity.objects.all())
    location = ScopedPrimaryKeyRelatedField(queryset=Location.objects.all(), required=False, allow_null=True)

    class Meta:
        model = StaffMember
        fields = [
            "id",
            "employer",
            "location",
            "full_name",
            "job_title",
            "hired_on",
            "left_on",
            "exposure_risk",
            "contract_has_noncompete",
        ]
        read_only_fields = ["id"]


class TrainingRecordSerializer(serializers.ModelSerializer[TrainingRecord]):
    staff_member = ScopedPrimaryKeyRelatedField(queryset=StaffMember.objects.all())

    class Meta:
        model = TrainingRecord
        fields = ["id", "staff_member", "kind", "completed_on", "expires_on"]
        read_only_fields = ["id"]


class ClinicalMembershipField(ScopedPrimaryKeyRelatedField):
    """The sign-in of a PC physician or clinician of the key's tenant (memberships have no access
    policy of their own: the tenant and the capacity are the scope)."""

    def get_queryset(self) -> QuerySet[Any]:
        ctx = getattr(self.context.get("request"), "auth", None)
        if not isinstance(ctx, AccessContext):
            return Membership.objects.none()
        return Membership.objects.filter(tenant=ctx.tenant, capacity__in=services.CLINICAL_CAPACITIES)


class ProviderSerializer(serializers.ModelSerializer[Provider]):
    pc = ScopedPrimaryKeyRelatedField(queryset=ProfessionalCorporation.objects.all())
    membership = ClinicalMembershipField(
        queryset=Membership.objects.all(),
        required=False,
        allow_null=True,
        help_text="The provider's own sign-in (a PC physician or clinician membership), if any.",
    )
    # Exactly nine characters: two letters and seven digits, the last a check digit.
    dea_number = serializers.CharField(max_length=9, required=False, allow_blank=True)
    next_credential_expiry = serializers.SerializerMethodField(
        help_text="The soonest expiry among license, DEA, CURES, NP furnishing number and PA agreement."
    )

    class Meta:
        model = Provider
        fields = ["id", *services.PROVIDER_FIELDS, "next_credential_expiry"]
        read_only_fields = ["id"]

    def get_next_credential_expiry(self, obj: Provider) -> dt.date | None:
        return selectors.next_expiry(obj)


# --- viewsets -----------------------------------------------------------------------------------


class VendorViewSet(ReadWriteTenantViewSet[Vendor]):
    """Vendors of the MSO, with whether a BAA is in force for those that handle PHI."""

    queryset = Vendor.objects.all()
    serializer_class = VendorSerializer
    filterset_class = VendorFilter
    ordering_fields = ["name", "service", "fee_basis"]

    def base_queryset(self) -> QuerySet[Vendor]:
        return selectors.vendor_queryset()

    def create_object(self, data: dict[str, Any]) -> Vendor:
        return services.vendor_create(ctx=self.access, **data)

    def update_object(self, obj: Vendor, data: dict[str, Any]) -> Vendor:
        return services.vendor_update(ctx=self.access, vendor=obj, **data)


class BusinessAssociateAgreementViewSet(ReadWriteTenantViewSet[BusinessAssociateAgreement]):
    """Business associate agreements signed with vendors."""

    queryset = BusinessAssociateAgreement.objects.all()
    serializer_class = BusinessAssociateAgreementSerializer
    filterset_class = BusinessAssociateAgreementFilter
    ordering_fields = ["signed_on", "expires_on"]

    def create_object(self, data: dict[str, Any]) -> BusinessAssociateAgreement:
        return services.baa_create(ctx=self.access, **data)

    def update_object(
        self, obj: BusinessAssociateAgreement, data: dict[str, Any]
    ) -> BusinessAssociateAgreement:
        return services.baa_update(ctx=self.access, baa=obj, **data)


class StaffMemberViewSet(ReadWriteTenantViewSet[StaffMember]):
    """Non-clinical workforce of the MSO entities."""

    queryset = StaffMember.objects.all()
    serializer_class = StaffMemberSerializer
    filterset_class = StaffMemberFilter
    ordering_fields = ["full_name", "hired_on", "job_title"]

    def create_object(self, data: dict[str, Any]) -> StaffMember:
        return services.staff_member_create(ctx=self.access, **data)

    def update_object(self, obj: StaffMember, data: dict[str, Any]) -> StaffMember:
        return services.staff_member_update(ctx=self.access, staff_member=obj, **data)


class TrainingRecordViewSet(ReadWriteTenantViewSet[TrainingRecord]):
    """Trainings completed by staff: HIPAA, bloodborne pathogens, injury and illness prevention."""

    queryset = TrainingRecord.objects.all()
    serializer_class = TrainingRecordSerializer
    filterset_class = TrainingRecordFilter
    ordering_fields = ["completed_on", "expires_on", "kind"]

    def create_object(self, data: dict[str, Any]) -> TrainingRecord:
        return services.training_record_create(ctx=self.access, **data)

    def update_object(self, obj: TrainingRecord, data: dict[str, Any]) -> TrainingRecord:
        return services.training_record_update(ctx=self.access, record=obj, **data)


class ProviderViewSet(ReadWriteTenantViewSet[Provider]):
    """Licensed providers of the PCs and the credentials the MSO keeps for them as a service.

    Filter ``expiring_before=YYYY-MM-DD`` finds providers with any credential expiring before that day.
    """

    queryset = Provider.objects.all()
    serializer_class = ProviderSerializer
    filterset_class = ProviderFilter
    ordering_fields = ["full_name", "license_type", "license_expires_on", "next_expiry"]

    def base_queryset(self) -> QuerySet[Provider]:
        return selectors.provider_queryset()

    def create_object(self, data: dict[str, Any]) -> Provider:
        return services.provider_create(ctx=self.access, **data)

    def update_object(self, obj: Provider, data: dict[str, Any]) -> Provider:
        return services.provider_update(ctx=self.access, provider=obj, **data)
