"""Query filters of the parties' endpoints (django-filter); applied after the permission layer.

References are plain UUID filters: a ModelChoiceFilter would run its own unscoped lookup of the
referenced PC or location (and answer differently for another tenant's id than for an absent one).
"""

from __future__ import annotations

import django_filters

from management.models import (
    BankAccount,
    Equipment,
    EquipmentService,
    FictitiousNamePermit,
    InvestorType,
    Lease,
    Location,
    MedicalWasteRegistration,
    MsoEntity,
    ProfessionalCorporation,
    Shareholder,
)
from management.procedures import LicenseStatus, LicenseType
from tenants.filters import StrictBooleanFilter, choice_filter


class MsoEntityFilter(django_filters.FilterSet):
    legal_name = django_filters.CharFilter(lookup_expr="icontains")
    state = django_filters.CharFilter(lookup_expr="iexact")
    investor_type = choice_filter(InvestorType)
    does_rate_negotiation = StrictBooleanFilter()

    class Meta:
        model = MsoEntity
        fields = ["legal_name", "state", "entity_type", "investor_type", "does_rate_negotiation"]


class ProfessionalCorporationFilter(django_filters.FilterSet):
    legal_name = django_filters.CharFilter(lookup_expr="icontains")
    state = django_filters.CharFilter(lookup_expr="iexact")
    physician_name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = ProfessionalCorporation
        fields = ["legal_name", "state", "physician_name"]


class ShareholderFilter(django_filters.FilterSet):
    pc = django_filters.UUIDFilter(field_name="pc")
    name = django_filters.CharFilter(lookup_expr="icontains")
    license_type = choice_filter(LicenseType)
    license_status = choice_filter(LicenseStatus)
    license_state = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Shareholder
        fields = ["pc", "name", "license_type", "license_status", "license_state"]


class FictitiousNamePermitFilter(django_filters.FilterSet):
    pc = django_filters.UUIDFilter(field_name="pc")
    fictitious_name = django_filters.CharFilter(lookup_expr="icontains")
    permit_number = django_filters.CharFilter(lookup_expr="iexact")
    expires_before = django_filters.DateFilter(field_name="expires_on", lookup_expr="lte")
    expires_after = django_filters.DateFilter(field_name="expires_on", lookup_expr="gte")

    class Meta:
        model = FictitiousNamePermit
        fields = ["pc", "fictitious_name", "permit_number", "expires_before", "expires_after"]


class BankAccountFilter(django_filters.FilterSet):
    mso_entity = django_filters.UUIDFilter(field_name="mso_entity")
    pc = django_filters.UUIDFilter(field_name="pc")
    bank_name = django_filters.CharFilter(lookup_expr="icontains")
    purpose = choice_filter(BankAccount.Purpose)

    class Meta:
        model = BankAccount
        fields = ["mso_entity", "pc", "bank_name", "purpose", "account_last4"]


class LocationFilter(django_filters.FilterSet):
    pc = django_filters.UUIDFilter(field_name="pc")
    managing_entity = django_filters.UUIDFilter(field_name="managing_entity")
    name_permit = django_filters.UUIDFilter(field_name="name_permit")
    city = django_filters.CharFilter(lookup_expr="iexact")
    state = django_filters.CharFilter(lookup_expr="iexact")
    name = django_filters.CharFilter(lookup_expr="icontains")
    trade_name = django_filters.CharFilter(lookup_expr="icontains")
    generates_sharps = StrictBooleanFilter()
    runs_waived_lab_tests = StrictBooleanFilter()

    class Meta:
        model = Location
        fields = [
            "pc",
            "managing_entity",
            "name_permit",
            "city",
            "state",
            "name",
            "trade_name",
            "generates_sharps",
            "runs_waived_lab_tests",
        ]


class LeaseFilter(django_filters.FilterSet):
    location = django_filters.UUIDFilter(field_name="location")
    landlord = django_filters.CharFilter(lookup_expr="icontains")
    ends_before = django_filters.DateFilter(field_name="term_end", lookup_expr="lte")
    ends_after = django_filters.DateFilter(field_name="term_end", lookup_expr="gte")

    class Meta:
        model = Lease
        fields = ["location", "landlord", "ends_before", "ends_after"]


class EquipmentFilter(django_filters.FilterSet):
    location = django_filters.UUIDFilter(field_name="location")
    kind = choice_filter(Equipment.Kind)
    manufacturer = django_filters.CharFilter(lookup_expr="icontains")
    model_name = django_filters.CharFilter(lookup_expr="icontains")
    serial_number = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Equipment
        fields = ["location", "kind", "manufacturer", "model_name", "serial_number"]


class EquipmentServiceFilter(django_filters.FilterSet):
    equipment = django_filters.UUIDFilter(field_name="equipment")
    location = django_filters.UUIDFilter(field_name="equipment__location")
    vendor = django_filters.CharFilter(lookup_expr="icontains")
    serviced_before = django_filters.DateFilter(field_name="serviced_on", lookup_expr="lte")
    serviced_after = django_filters.DateFilter(field_name="serviced_on", lookup_expr="gte")

    class Meta:
        model = EquipmentService
        fields = ["equipment", "location", "vendor", "serviced_before", "serviced_after"]


class MedicalWasteRegistrationFilter(django_filters.FilterSet):
    location = django_filters.UUIDFilter(field_name="location")
    registration_number = django_filters.CharFilter(lookup_expr="iexact")
    hauler = django_filters.CharFilter(lookup_expr="icontains")
    expires_before = django_filters.DateFilter(field_name="expires_on", lookup_expr="lte")
    expires_after = django_filters.DateFilter(field_name="expires_on", lookup_expr="gte")

    class Meta:
        model = MedicalWasteRegistration
        fields = ["location", "registration_number", "hauler", "expires_before", "expires_after"]


# --- list pages: what a person filters by (names, kinds, dates); ids are for API clients -----------


class MsoEntityPageFilter(django_filters.FilterSet):
    legal_name = django_filters.CharFilter(lookup_expr="icontains", label="Name contains")
    investor_type = choice_filter(InvestorType, label="Investors")

    class Meta:
        model = MsoEntity
        fields = ["legal_name", "investor_type"]


class ProfessionalCorporationPageFilter(django_filters.FilterSet):
    legal_name = django_filters.CharFilter(lookup_expr="icontains", label="Name contains")
    state = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = ProfessionalCorporation
        fields = ["legal_name", "state"]


class ShareholderPageFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains", label="Name contains")
    license_type = choice_filter(LicenseType, label="License")
    license_status = choice_filter(LicenseStatus, label="License status")

    class Meta:
        model = Shareholder
        fields = ["name", "license_type", "license_status"]


class FictitiousNamePermitPageFilter(django_filters.FilterSet):
    fictitious_name = django_filters.CharFilter(lookup_expr="icontains", label="Name contains")
    expires_before = django_filters.DateFilter(field_name="expires_on", lookup_expr="lte")

    class Meta:
        model = FictitiousNamePermit
        fields = ["fictitious_name", "expires_before"]


class BankAccountPageFilter(django_filters.FilterSet):
    bank_name = django_filters.CharFilter(lookup_expr="icontains", label="Bank contains")
    purpose = choice_filter(BankAccount.Purpose)

    class Meta:
        model = BankAccount
        fields = ["bank_name", "purpose"]


class LocationPageFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains", label="Name contains")
    city = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Location
        fields = ["name", "city"]


class LeasePageFilter(django_filters.FilterSet):
    landlord = django_filters.CharFilter(lookup_expr="icontains", label="Landlord contains")
    ends_before = django_filters.DateFilter(field_name="term_end", lookup_expr="lte")

    class Meta:
        model = Lease
        fields = ["landlord", "ends_before"]


class EquipmentPageFilter(django_filters.FilterSet):
    manufacturer = django_filters.CharFilter(lookup_expr="icontains", label="Manufacturer contains")
    kind = choice_filter(Equipment.Kind)

    class Meta:
        model = Equipment
        fields = ["kind", "manufacturer"]


class EquipmentServicePageFilter(django_filters.FilterSet):
    vendor = django_filters.CharFilter(lookup_expr="icontains", label="Vendor contains")
    serviced_after = django_filters.DateFilter(field_name="serviced_on", lookup_expr="gte")

    class Meta:
        model = EquipmentService
        fields = ["vendor", "serviced_after"]


class MedicalWasteRegistrationPageFilter(django_filters.FilterSet):
    hauler = django_filters.CharFilter(lookup_expr="icontains", label="Hauler contains")
    expires_before = django_filters.DateFilter(field_name="expires_on", lookup_expr="lte")

    class Meta:
        model = MedicalWasteRegistration
        fields = ["hauler", "expires_before"]
