"""Pages of the contracting parties and their sites (list / detail / create / edit each), built with
the generic page toolkit (tenants.pages): reads through management.selectors.parties, writes through
management.services.parties.

The PC page shows its cap table, permits, bank accounts and locations; the location page its lease,
equipment (last service, next due) and waste registration; the equipment page its service visits.
Related tables come from the same selectors as the lists, so they show only what the capacity may see
and run a fixed number of queries.
"""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern

from management.filters.parties import (
    BankAccountPageFilter,
    EquipmentPageFilter,
    EquipmentServicePageFilter,
    FictitiousNamePermitPageFilter,
    LeasePageFilter,
    LocationPageFilter,
    MedicalWasteRegistrationPageFilter,
    MsoEntityPageFilter,
    ProfessionalCorporationPageFilter,
    ShareholderPageFilter,
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
from tenants.access import AccessContext
from tenants.pages import Column, ObjectPages

TEMPLATES = "management/parties"


# --- MSO entities --------------------------------------------------------------------------------


def mso_entity_context(ctx: AccessContext, entity: MsoEntity) -> dict[str, Any]:
    return {
        "locations": selectors.location_list(ctx).filter(managing_entity=entity),
        "bank_accounts": selectors.bank_account_list(ctx).filter(mso_entity=entity),
        "add_bank_account_url": BANK_ACCOUNT_PAGES.url(ctx, "create")
        if BANK_ACCOUNT_PAGES.can_create(ctx)
        else None,
    }


MSO_ENTITY_FIELDS = ["legal_name", "state", "entity_type", "investor_type", "does_rate_negotiation"]
MSO_ENTITY_PAGES = ObjectPages(
    model=MsoEntity,
    name="mso-entity",
    path="mso-entities",
    title="MSO entities",
    help_text="The MSO's own legal entities: they manage locations and contract with the PCs.",
    list_selector=selectors.mso_entity_list,
    get_selector=selectors.mso_entity_get,
    columns=[
        Column("Legal name", "legal_name", link=True),
        Column("State", "state"),
        Column("Entity type", "entity_type"),
        Column("Investors", "investor_type"),
        Column("Negotiates rates", "does_rate_negotiation"),
    ],
    fields=MSO_ENTITY_FIELDS,
    create_service=services.mso_entity_create,
    update_service=services.mso_entity_update,
    update_kwarg="entity",
    filterset_class=MsoEntityPageFilter,
    detail_template=f"{TEMPLATES}/mso_entity_detail.html",
    detail_context=mso_entity_context,
)


# --- Professional corporations -------------------------------------------------------------------


def pc_context(ctx: AccessContext, pc: ProfessionalCorporation) -> dict[str, Any]:
    cap_table = selectors.pc_cap_table(ctx, pc)
    return {
        "cap_table": cap_table,
        "total_shares": sum(line.holder.shares for line in cap_table),
        "permits": selectors.fictitious_name_permit_list(ctx).filter(pc=pc),
        "bank_accounts": selectors.bank_account_list(ctx).filter(pc=pc),
        "locations": selectors.location_list(ctx).filter(pc=pc),
        "add": {
            "shareholder": SHAREHOLDER_PAGES.url(ctx, "create")
            if SHAREHOLDER_PAGES.can_create(ctx)
            else None,
            "permit": PERMIT_PAGES.url(ctx, "create") if PERMIT_PAGES.can_create(ctx) else None,
            "bank_account": BANK_ACCOUNT_PAGES.url(ctx, "create")
            if BANK_ACCOUNT_PAGES.can_create(ctx)
            else None,
        },
    }


PC_PAGES = ObjectPages(
    model=ProfessionalCorporation,
    name="pc",
    path="pcs",
    title="Professional corporations",
    help_text="Physician-owned corporations: the clinical party of each management services agreement.",
    list_selector=selectors.pc_list,
    get_selector=selectors.pc_get,
    columns=[
        Column("Legal name", "legal_name", link=True),
        Column("State", "state"),
        Column("Entity type", "entity_type"),
        Column("Physician", "physician_name"),
    ],
    fields=["legal_name", "state", "entity_type", "physician_name"],
    create_service=services.pc_create,
    update_service=services.pc_update,
    update_kwarg="pc",
    filterset_class=ProfessionalCorporationPageFilter,
    detail_template=f"{TEMPLATES}/pc_detail.html",
    detail_context=pc_context,
)


# --- Shareholders, permits, bank accounts ----------------------------------------------------------

SHAREHOLDER_FIELDS = [
    "pc",
    "name",
    "license_type",
    "license_number",
    "license_state",
    "license_status",
    "shares",
]
SHAREHOLDER_PAGES = ObjectPages(
    model=Shareholder,
    name="shareholder",
    path="shareholders",
    title="Shareholders",
    help_text="The PCs' cap tables: each holder's license and shares.",
    list_selector=selectors.shareholder_list,
    get_selector=selectors.shareholder_get,
    columns=[
        Column("Name", "name", link=True),
        Column("PC", "pc.legal_name"),
        Column("License", "license_type"),
        Column("License status", "license_status"),
        Column("Shares", "shares"),
        Column("% of the PC", "percent_of_shares"),
    ],
    detail_fields=[
        Column("PC", "pc.legal_name"),
        Column("License type", "license_type"),
        Column("License number", "license_number"),
        Column("License state", "license_state"),
        Column("License status", "license_status"),
        Column("Shares", "shares"),
        Column("% of the PC's shares", "percent_of_shares"),
    ],
    fields=SHAREHOLDER_FIELDS,
    create_service=services.shareholder_create,
    update_service=services.shareholder_update,
    update_kwarg="shareholder",
    filterset_class=ShareholderPageFilter,
)

PERMIT_FIELDS = ["pc", "fictitious_name", "permit_number", "issued_on", "expires_on"]
PERMIT_PAGES = ObjectPages(
    model=FictitiousNamePermit,
    name="fictitious-name-permit",
    path="fictitious-name-permits",
    title="Fictitious name permits",
    help_text="Medical Board permits for the names the PCs practice under (renewed every two years).",
    list_selector=selectors.fictitious_name_permit_list,
    get_selector=selectors.fictitious_name_permit_get,
    columns=[
        Column("Fictitious name", "fictitious_name", link=True),
        Column("PC", "pc.legal_name"),
        Column("Permit number", "permit_number"),
        Column("Issued", "issued_on"),
        Column("Expires", "expires_on"),
    ],
    fields=PERMIT_FIELDS,
    create_service=services.fictitious_name_permit_create,
    update_service=services.fictitious_name_permit_update,
    update_kwarg="permit",
    filterset_class=FictitiousNamePermitPageFilter,
)

BANK_ACCOUNT_FIELDS = ["mso_entity", "pc", "bank_name", "account_last4", "routing_number", "purpose"]
BANK_ACCOUNT_PAGES = ObjectPages(
    model=BankAccount,
    name="bank-account",
    path="bank-accounts",
    title="Bank accounts",
    help_text="Each account belongs to exactly one entity: an MSO entity or a PC. Only the last four "
    "digits of an account number are kept.",
    list_selector=selectors.bank_account_list,
    get_selector=selectors.bank_account_get,
    columns=[
        Column("Bank", "bank_name", link=True),
        Column("Account", "account_last4"),
        Column("Owner", "owner"),
        Column("Purpose", "purpose"),
    ],
    detail_fields=[
        Column("Bank", "bank_name"),
        Column("Account (last four digits)", "account_last4"),
        Column("Routing number", "routing_number"),
        Column("Owner", "owner"),
        Column("Purpose", "purpose"),
    ],
    fields=BANK_ACCOUNT_FIELDS,
    create_service=services.bank_account_create,
    update_service=services.bank_account_update,
    update_kwarg="account",
    filterset_class=BankAccountPageFilter,
)


# --- Locations and what they run on ----------------------------------------------------------------


def location_context(ctx: AccessContext, location: Location) -> dict[str, Any]:
    def add(pages: ObjectPages) -> str | None:
        return f"{pages.url(ctx, 'create')}?location={location.pk}" if pages.can_create(ctx) else None

    return {
        "leases": selectors.lease_list(ctx).filter(location=location),
        "equipment": selectors.equipment_list(ctx).filter(location=location),
        "waste_registrations": selectors.medical_waste_registration_list(ctx).filter(location=location),
        "add": {
            "lease": add(LEASE_PAGES),
            "equipment": add(EQUIPMENT_PAGES),
            "waste_registration": add(WASTE_REGISTRATION_PAGES),
        },
    }


LOCATION_FIELDS = [
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
LOCATION_PAGES = ObjectPages(
    model=Location,
    name="location",
    path="locations",
    title="Locations",
    help_text="Med spas: each run by an MSO entity, its clinical services provided by a PC.",
    list_selector=selectors.location_list,
    get_selector=selectors.location_get,
    columns=[
        Column("Name", "name", link=True),
        Column("Trade name", "trade_name"),
        Column("City", "city"),
        Column("State", "state"),
        Column("Managed by", "managing_entity.legal_name"),
        Column("Professional corporation", "pc.legal_name"),
    ],
    detail_fields=[
        Column("Address", "address"),
        Column("City", "city"),
        Column("State", "state"),
        Column("Managed by (MSO entity)", "managing_entity.legal_name"),
        Column("Clinical services by (PC)", "pc.legal_name"),
        Column("Trade name", "trade_name"),
        Column("Fictitious name permit", "name_permit"),
        Column("Generates sharps", "generates_sharps"),
        Column("Runs waived lab tests", "runs_waived_lab_tests"),
        Column("CLIA waiver number", "clia_waiver_number"),
        Column("Lab director", "lab_director"),
    ],
    fields=LOCATION_FIELDS,
    create_service=services.location_create,
    update_service=services.location_update,
    update_kwarg="location",
    filterset_class=LocationPageFilter,
    detail_template=f"{TEMPLATES}/location_detail.html",
    detail_context=location_context,
)

LEASE_FIELDS = ["location", "landlord", "term_start", "term_end", "monthly_rent", "currency"]
LEASE_PAGES = ObjectPages(
    model=Lease,
    name="lease",
    path="leases",
    title="Leases",
    list_selector=selectors.lease_list,
    get_selector=selectors.lease_get,
    columns=[
        Column("Landlord", "landlord", link=True),
        Column("Location", "location.name"),
        Column("Starts", "term_start"),
        Column("Ends", "term_end"),
        Column("Monthly rent", "monthly_rent"),
        Column("Currency", "currency"),
    ],
    fields=LEASE_FIELDS,
    create_service=services.lease_create,
    update_service=services.lease_update,
    update_kwarg="lease",
    filterset_class=LeasePageFilter,
)


def equipment_context(ctx: AccessContext, equipment: Equipment) -> dict[str, Any]:
    can_add = EQUIPMENT_SERVICE_PAGES.can_create(ctx)
    return {
        "visits": selectors.equipment_service_list(ctx).filter(equipment=equipment),
        "add_visit_url": f"{EQUIPMENT_SERVICE_PAGES.url(ctx, 'create')}?equipment={equipment.pk}"
        if can_add
        else None,
    }


EQUIPMENT_FIELDS = [
    "location",
    "kind",
    "manufacturer",
    "model_name",
    "serial_number",
    "service_interval_days",
]
EQUIPMENT_PAGES = ObjectPages(
    model=Equipment,
    name="equipment",
    path="equipment",
    title="Equipment",
    help_text="Lasers, IPL and other devices, with the service interval their maintenance follows.",
    list_selector=selectors.equipment_list,
    get_selector=selectors.equipment_get,
    columns=[
        Column("Device", "model_name", link=True),
        Column("Kind", "kind"),
        Column("Manufacturer", "manufacturer"),
        Column("Serial number", "serial_number"),
        Column("Location", "location.name"),
        Column("Last service", "last_serviced_on"),
        Column("Next service due", "next_service_due"),
    ],
    detail_fields=[
        Column("Location", "location.name"),
        Column("Kind", "kind"),
        Column("Manufacturer", "manufacturer"),
        Column("Model", "model_name"),
        Column("Serial number", "serial_number"),
        Column("Service interval (days)", "service_interval_days"),
        Column("Last service", "last_serviced_on"),
        Column("Next service due", "next_service_due"),
    ],
    fields=EQUIPMENT_FIELDS,
    create_service=services.equipment_create,
    update_service=services.equipment_update,
    update_kwarg="equipment",
    filterset_class=EquipmentPageFilter,
    detail_template=f"{TEMPLATES}/equipment_detail.html",
    detail_context=equipment_context,
)

EQUIPMENT_SERVICE_FIELDS = ["equipment", "serviced_on", "vendor", "notes"]
EQUIPMENT_SERVICE_PAGES = ObjectPages(
    model=EquipmentService,
    name="equipment-service",
    path="equipment-services",
    title="Equipment service visits",
    list_selector=selectors.equipment_service_list,
    get_selector=selectors.equipment_service_get,
    columns=[
        Column("Date", "serviced_on", link=True),
        Column("Device", "equipment"),
        Column("Location", "equipment.location.name"),
        Column("Vendor", "vendor"),
    ],
    detail_fields=[
        Column("Device", "equipment"),
        Column("Location", "equipment.location.name"),
        Column("Date", "serviced_on"),
        Column("Vendor", "vendor"),
        Column("Notes", "notes"),
    ],
    fields=EQUIPMENT_SERVICE_FIELDS,
    create_service=services.equipment_service_create,
    update_service=services.equipment_service_update,
    update_kwarg="visit",
    filterset_class=EquipmentServicePageFilter,
)

WASTE_REGISTRATION_FIELDS = ["location", "registration_number", "hauler", "issued_on", "expires_on"]
WASTE_REGISTRATION_PAGES = ObjectPages(
    model=MedicalWasteRegistration,
    name="medical-waste-registration",
    path="medical-waste-registrations",
    title="Medical waste registrations",
    help_text="Medical Waste Management Act registrations of the locations that generate sharps.",
    list_selector=selectors.medical_waste_registration_list,
    get_selector=selectors.medical_waste_registration_get,
    columns=[
        Column("Registration", "registration_number", link=True),
        Column("Location", "location.name"),
        Column("Hauler", "hauler"),
        Column("Issued", "issued_on"),
        Column("Expires", "expires_on"),
    ],
    fields=WASTE_REGISTRATION_FIELDS,
    create_service=services.medical_waste_registration_create,
    update_service=services.medical_waste_registration_update,
    update_kwarg="registration",
    filterset_class=MedicalWasteRegistrationPageFilter,
)

ALL_PAGES = [
    MSO_ENTITY_PAGES,
    PC_PAGES,
    SHAREHOLDER_PAGES,
    PERMIT_PAGES,
    BANK_ACCOUNT_PAGES,
    LOCATION_PAGES,
    LEASE_PAGES,
    EQUIPMENT_PAGES,
    EQUIPMENT_SERVICE_PAGES,
    WASTE_REGISTRATION_PAGES,
]

urlpatterns: list[URLPattern] = [pattern for pages in ALL_PAGES for pattern in pages.urls()]
