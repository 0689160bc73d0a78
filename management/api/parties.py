"""API of the contracting parties and their sites: serializers and viewsets.

Scoping and permissions live in the base viewset (tenants.api.viewsets); writes go through
management.services.parties; references resolve through the permission layer
(ScopedPrimaryKeyRelatedField). The tenant is never a field: it comes from the API key.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import models
from rest_framework import serializers

from management.filters.parties import (
    BankAccountFilter,
    EquipmentFilter,
    EquipmentServiceFilter,
    FictitiousNamePermitFilter,
    LeaseFilter,
    LocationFilter,
    MedicalWasteRegistrationFilter,
    MsoEntityFilter,
    ProfessionalCorporationFilter,
    ShareholderFilter,
)
from management.models import (
    BankAccount,
    Equipment,
    EquipmentService,
    FictitiousNamePermit,
    Lease,
    Location,
    MedicalWasteRegistration,
    MsoEntity,
    ProfessionalCorporation,
    Shareholder,
)
from management.selectors import parties as selectors
from management.services import parties as services
from tenants.api.fields import ScopedPrimaryKeyRelatedField
from tenants.api.viewsets import ReadWriteTenantViewSet

M = TypeVar("M", bound=models.Model)

# --- serializers -----------------------------------------------------------------------------------


class MsoEntitySerializer(serializers.ModelSerializer[MsoEntity]):
    class Meta:
        model = MsoEntity
        fields = ["id", "legal_name", "state", "entity_type", "investor_type", "does_rate_negotiation"]
        read_only_fields = ["id"]


class ProfessionalCorporationSerializer(serializers.ModelSerializer[ProfessionalCorporation]):
    class Meta:
        model = ProfessionalCorporation
        fields = ["id", "legal_name", "state", "entity_type", "physician_name"]
        read_only_fields = ["id"]


class ShareholderSerializer(serializers.ModelSerializer[Shareholder]):
    pc = ScopedPrimaryKeyRelatedField(queryset=ProfessionalCorporation.objects.all())
    percent_of_shares = serializers.DecimalField(
        max_digits=9,
        decimal_places=2,
        read_only=True,
        help_text="This holder's share of all the PC's shares, in percent.",
    )

    class Meta:
        model = Shareholder
        fields = [
            "id",
            "pc",
            "name",
            "license_type",
            "license_number",
            "license_state",
            "license_status",
            "shares",
            "percent_of_shares",
        ]
        read_only_fields = ["id"]


class FictitiousNamePermitSerializer(serializers.ModelSerializer[FictitiousNamePermit]):
    pc = ScopedPrimaryKeyRelatedField(queryset=ProfessionalCorporation.objects.all())

    class Meta:
        model = FictitiousNamePermit
        fields = ["id", "pc", "fictitious_name", "permit_number", "issued_on", "expires_on"]
        read_only_fields = ["id"]


class BankAccountSerializer(serializers.ModelSerializer[BankAccount]):
    mso_entity = ScopedPrimaryKeyRelatedField(
        queryset=MsoEntity.objects.all(), allow_null=True, required=False, help_text="Owner, if the MSO's."
    )
    pc = ScopedPrimaryKeyRelatedField(
        queryset=ProfessionalCorporation.objects.all(),
        allow_null=True,
        required=False,
        help_text="Owner, if a PC's.",
    )

    class Meta:
        model = BankAccount
        fields = ["id", "mso_entity", "pc", "bank_name", "account_last4", "routing_number", "purpose"]
        read_only_fields = ["id"]


class LocationSerializer(serializers.ModelSerializer[Location]):
    managing_entity = ScopedPrimaryKeyRelatedField(queryset=MsoEntity.objects.all())
    pc = ScopedPrimaryKeyRelatedField(queryset=ProfessionalCorporation.objects.all())
    name_permit = ScopedPrimaryKeyRelatedField(
        queryset=FictitiousNamePermit.objects.all(),
        allow_null=True,
        required=False,
        help_text="The PC's fictitious name permit the trade name is used under; null clears it.",
    )

    class Meta:
        model = Location
        fields = [
            "id",
            "name",
            "address",
            "city",
            "state",
            "managing_entity",
            "pc",
            "trade_name",
            "name_permit",
            "generates_sharps",
            "runs_waived_lab_tests",
            "clia_waiver_number",
            "lab_director",
        ]
        read_only_fields = ["id"]


class LeaseSerializer(serializers.ModelSerializer[Lease]):
    location = ScopedPrimaryKeyRelatedField(queryset=Location.objects.all())

    class Meta:
        model = Lease
        fields = ["id", "location", "landlord", "term_start", "term_end", "monthly_rent", "currency"]
        read_only_fields = ["id"]


class EquipmentSerializer(serializers.ModelSerializer[Equipment]):
    location = ScopedPrimaryKeyRelatedField(queryset=Location.objects.all())
    last_serviced_on = serializers.DateField(read_only=True, allow_null=True)
    next_service_due = serializers.DateField(
        read_only=True, allow_null=True, help_text="Last service plus the interval; null: never serviced."
    )

    class Meta:
        model = Equipment
        fields = [
            "id",
            "location",
            "kind",
            "manufacturer",
            "model_name",
            "serial_number",
            "service_interval_days",
            "last_serviced_on",
            "next_service_due",
        ]
        read_only_fields = ["id"]


class EquipmentServiceSerializer(serializers.ModelSerializer[EquipmentService]):
    equipment = ScopedPrimaryKeyRelatedField(queryset=Equipment.objects.all())

    class Meta:
        model = EquipmentService
        fields = ["id", "equipment", "serviced_on", "vendor", "notes"]
        read_only_fields = ["id"]


class MedicalWasteRegistrationSerializer(serializers.ModelSerializer[MedicalWasteRegistration]):
    location = ScopedPrimaryKeyRelatedField(queryset=Location.objects.all())

    class Meta:
        model = MedicalWasteRegistration
        fields = ["id", "location", "registration_number", "hauler", "issued_on", "expires_on"]
        read_only_fields = ["id"]


# --- viewsets --------------------------------------------------------------------------------------


class _AnnotatedReload(ReadWriteTenantViewSet[M]):
    """For rows whose representation carries annotations (a holder's percentage, a device's next
    service): a written row is read back through the annotated base queryset before it is shown.
    The base re-checks afterwards that it is inside the key's scope."""

    def reload(self, obj: M) -> M:
        return self.base_queryset().filter(pk=obj.pk).first() or obj


class MsoEntityViewSet(ReadWriteTenantViewSet[MsoEntity]):
    """Legal entities of the MSO."""

    queryset = MsoEntity.objects.all()
    serializer_class = MsoEntitySerializer
    filterset_class = MsoEntityFilter
    ordering_fields = ["legal_name", "state", "entity_type", "investor_type"]

    def create_object(self, data: dict[str, Any]) -> MsoEntity:
        return services.mso_entity_create(ctx=self.access, **data)

    def update_object(self, obj: MsoEntity, data: dict[str, Any]) -> MsoEntity:
        return services.mso_entity_update(ctx=self.access, entity=obj, **data)


class ProfessionalCorporationViewSet(ReadWriteTenantViewSet[ProfessionalCorporation]):
    """Professional corporations as the MSO's contracting parties."""

    queryset = ProfessionalCorporation.objects.all()
    serializer_class = ProfessionalCorporationSerializer
    filterset_class = ProfessionalCorporationFilter
    ordering_fields = ["legal_name", "state", "physician_name"]

    def create_object(self, data: dict[str, Any]) -> ProfessionalCorporation:
        return services.pc_create(ctx=self.access, **data)

    def update_object(self, obj: ProfessionalCorporation, data: dict[str, Any]) -> ProfessionalCorporation:
        return services.pc_update(ctx=self.access, pc=obj, **data)


class ShareholderViewSet(_AnnotatedReload[Shareholder]):
    """A PC's cap table, one line per holder, with each holder's percentage of the PC's shares."""

    queryset = selectors.shareholder_base()
    serializer_class = ShareholderSerializer
    filterset_class = ShareholderFilter
    ordering_fields = ["name", "shares", "license_type", "license_status"]

    def create_object(self, data: dict[str, Any]) -> Shareholder:
        return self.reload(services.shareholder_create(ctx=self.access, **data))

    def update_object(self, obj: Shareholder, data: dict[str, Any]) -> Shareholder:
        return self.reload(services.shareholder_update(ctx=self.access, shareholder=obj, **data))


class FictitiousNamePermitViewSet(ReadWriteTenantViewSet[FictitiousNamePermit]):
    """Medical Board fictitious name permits of the PCs."""

    queryset = FictitiousNamePermit.objects.select_related("pc")
    serializer_class = FictitiousNamePermitSerializer
    filterset_class = FictitiousNamePermitFilter
    ordering_fields = ["fictitious_name", "permit_number", "issued_on", "expires_on"]

    def create_object(self, data: dict[str, Any]) -> FictitiousNamePermit:
        return services.fictitious_name_permit_create(ctx=self.access, **data)

    def update_object(self, obj: FictitiousNamePermit, data: dict[str, Any]) -> FictitiousNamePermit:
        return services.fictitious_name_permit_update(ctx=self.access, permit=obj, **data)


class BankAccountViewSet(ReadWriteTenantViewSet[BankAccount]):
    """Bank accounts, each owned by one MSO entity or one PC."""

    queryset = BankAccount.objects.select_related("mso_entity", "pc")
    serializer_class = BankAccountSerializer
    filterset_class = BankAccountFilter
    ordering_fields = ["bank_name", "account_last4", "purpose"]

    def create_object(self, data: dict[str, Any]) -> BankAccount:
        return services.bank_account_create(ctx=self.access, **data)

    def update_object(self, obj: BankAccount, data: dict[str, Any]) -> BankAccount:
        return services.bank_account_update(ctx=self.access, account=obj, **data)


class LocationViewSet(ReadWriteTenantViewSet[Location]):
    """Med spas: each run by an MSO entity, its clinical services provided by a PC."""

    queryset = Location.objects.all()
    serializer_class = LocationSerializer
    filterset_class = LocationFilter
    ordering_fields = ["name", "city", "state", "trade_name"]

    def create_object(self, data: dict[str, Any]) -> Location:
        return services.location_create(ctx=self.access, **data)

    def update_object(self, obj: Location, data: dict[str, Any]) -> Location:
        return services.location_update(ctx=self.access, location=obj, **data)


class LeaseViewSet(ReadWriteTenantViewSet[Lease]):
    """Leases of the locations' premises."""

    queryset = Lease.objects.all()
    serializer_class = LeaseSerializer
    filterset_class = LeaseFilter
    ordering_fields = ["term_start", "term_end", "landlord", "monthly_rent"]

    def create_object(self, data: dict[str, Any]) -> Lease:
        return services.lease_create(ctx=self.access, **data)

    def update_object(self, obj: Lease, data: dict[str, Any]) -> Lease:
        return services.lease_update(ctx=self.access, lease=obj, **data)


class EquipmentViewSet(_AnnotatedReload[Equipment]):
    """Lasers, IPL and other devices of the locations, with their service dates (EQP-001)."""

    queryset = selectors.equipment_base()
    serializer_class = EquipmentSerializer
    filterset_class = EquipmentFilter
    ordering_fields = ["kind", "manufacturer", "model_name", "serial_number", "next_service_due"]

    def create_object(self, data: dict[str, Any]) -> Equipment:
        return self.reload(services.equipment_create(ctx=self.access, **data))

    def update_object(self, obj: Equipment, data: dict[str, Any]) -> Equipment:
        return self.reload(services.equipment_update(ctx=self.access, equipment=obj, **data))


class EquipmentServiceViewSet(ReadWriteTenantViewSet[EquipmentService]):
    """Service visits on the devices."""

    queryset = EquipmentService.objects.all()
    serializer_class = EquipmentServiceSerializer
    filterset_class = EquipmentServiceFilter
    ordering_fields = ["serviced_on", "vendor"]

    def create_object(self, data: dict[str, Any]) -> EquipmentService:
        return services.equipment_service_create(ctx=self.access, **data)

    def update_object(self, obj: EquipmentService, data: dict[str, Any]) -> EquipmentService:
        return services.equipment_service_update(ctx=self.access, visit=obj, **data)


class MedicalWasteRegistrationViewSet(ReadWriteTenantViewSet[MedicalWasteRegistration]):
    """Medical Waste Management Act registrations of the locations (WST-001)."""

    queryset = MedicalWasteRegistration.objects.all()
    serializer_class = MedicalWasteRegistrationSerializer
    filterset_class = MedicalWasteRegistrationFilter
    ordering_fields = ["registration_number", "issued_on", "expires_on", "hauler"]

    def create_object(self, data: dict[str, Any]) -> MedicalWasteRegistration:
        return services.medical_waste_registration_create(ctx=self.access, **data)

    def update_object(self, obj: MedicalWasteRegistration, data: dict[str, Any]) -> MedicalWasteRegistration:
        return services.medical_waste_registration_update(ctx=self.access, registration=obj, **data)
