"""The business-side rules of RULES.md: facts the MSO keeps and may see the findings of.

Every query reads schema ``management`` (and the public membership/permission tables) only, never
``clinical``: the business role runs them. Each one filters ``tenant_id`` itself (tests and the engine
may connect as the owner) and returns ``values()`` rows of ``HIT_KEYS`` built by :func:`rows`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from functools import reduce
from operator import or_
from typing import Any

from django.contrib.postgres.aggregates import ArrayAgg
from django.contrib.postgres.aggregates.statistics import Corr
from django.contrib.postgres.fields import ArrayField
from django.db.models import (
    Avg,
    BooleanField,
    Case,
    CharField,
    Count,
    DateField,
    DecimalField,
    Exists,
    Expression,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    JSONField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    StdDev,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import (
    Abs,
    Coalesce,
    Concat,
    ExtractMonth,
    ExtractYear,
    JSONObject,
    Lag,
    Lead,
    Round,
    TruncDate,
    TruncMonth,
)

from compliance.registry import (
    DayStartAfter,
    RuleInput,
    Severity,
    Threshold,
    for_objects,
    for_pcs,
    hits,
    months_before,
    rule,
    start_of,
    whole,
)
from management.models import (
    Appointment,
    BankAccount,
    BusinessAssociateAgreement,
    Decision,
    Equipment,
    EquipmentService,
    FeeBasis,
    FictitiousNamePermit,
    InvestorType,
    Location,
    ManagementFeeInvoice,
    ManagementServicesAgreement,
    MarketingAsset,
    MarketingImage,
    MedicalWasteRegistration,
    MsaAmendment,
    MsoEntity,
    PatientPayment,
    PcCollection,
    PcGroupObjectPermission,
    PerformanceStandard,
    ProfessionalCorporation,
    Provider,
    ReviewState,
    Shareholder,
    StaffMember,
    TrainingRecord,
    Vendor,
)
from management.procedures import MINORITY_LICENSES, PHYSICIAN_LICENSES, LicenseStatus, LicenseType
from tenants.capacities import CAPACITIES, Side

# --- building blocks -------------------------------------------------------------------------------

# A licence on probation is still an active licence (the Board restricts, it does not suspend).
ACTIVE_LICENSE = (LicenseStatus.ACTIVE, LicenseStatus.PROBATION)
BILLED = (ManagementFeeInvoice.Status.ISSUED, ManagementFeeInvoice.Status.PAID)
# Appointments that happened or will: cancelled and no-show ones involve no care.
KEPT = (
    Appointment.Status.BOOKED,
    Appointment.Status.CONFIRMED,
    Appointment.Status.CHECKED_IN,
    Appointment.Status.COMPLETED,
)
UPCOMING = (Appointment.Status.BOOKED, Appointment.Status.CONFIRMED)
BUSINESS_CAPACITIES = tuple(c.code for c in CAPACITIES.values() if c.side == Side.BUSINESS)
# Object permissions that are clinical decisions (ProfessionalCorporation.Meta.permissions).
CLINICAL_PERMISSIONS = ("approve_marketing", "sign_protocol")


def union(*parts: QuerySet[Any]) -> QuerySet[Any]:
    """One query of several hit querysets (UNION ALL: no two parts return the same finding)."""
    first, *rest = parts
    return first.union(*rest, all=True) if rest else first


def day(value: dt.date) -> Value:
    return Value(value, output_field=DateField())


class DaysBetween(Func):
    """``later - earlier`` in whole days (PostgreSQL's date minus date is an integer)."""

    template = "(%(expressions)s)"
    arg_joiner = " - "
    output_field = IntegerField()


class Labels(Func):
    """The labels of the conditions that hold, as a text array (``array_remove(ARRAY[CASE …], NULL)``)."""

    template = "array_remove(ARRAY[%(expressions)s]::text[], NULL)"
    output_field = ArrayField(CharField())


def labels(conditions: Mapping[str, Q]) -> Labels:
    return Labels(
        *(Case(When(c, then=Value(name)), output_field=CharField()) for name, c in conditions.items())
    )


def any_of(conditions: Mapping[str, Q]) -> Q:
    return reduce(or_, conditions.values())


class RegexpSubstr(Func):
    """The first case-insensitive match of a POSIX pattern in a text, or NULL (PostgreSQL 15+)."""

    function = "regexp_substr"
    template = "%(function)s(%(expressions)s, 1, 1, 'i')"
    output_field = CharField()


class StripNulls(Func):
    function = "jsonb_strip_nulls"
    output_field = JSONField()


def threshold(name: str, default: str, unit: str, description: str, minimum: str, maximum: str) -> Threshold:
    return Threshold(name, Decimal(default), unit, description, Decimal(minimum), Decimal(maximum))


# --- structure and ownership (CPOM) ------------------------------------------------------------------


@rule(
    "CPOM-001",
    title="PC owned by California physicians",
    severity=Severity.CRITICAL,
    side=Side.BUSINESS,
    citation="B&P 2400, 2408; Corporations Code 13401.5; 16 CCR 1343",
    statement="California-licensed physicians hold at least 51% of the PC's shares; the other licensees "
    "Corporations Code 13401.5 lists hold at most 49% together and are not more numerous than the "
    "physician shareholders; no lay shareholder, the MSO included.",
    triggers=("management.Shareholder", "management.ProfessionalCorporation"),
)
def pc_not_physician_owned(q: RuleInput) -> QuerySet[Any]:
    """One hit per PC whose cap table breaks a share rule, or that has no cap table at all."""
    holders = for_pcs(Shareholder.objects.filter(tenant_id=q.tenant_id), q).alias(
        kind=Case(
            # A physician licensed in another state counts as a lay holder of a California PC.
            When(license_type__in=PHYSICIAN_LICENSES, license_state=F("pc__state"), then=Value("physician")),
            When(license_type__in=MINORITY_LICENSES, then=Value("licensee")),
            default=Value("lay"),
            output_field=CharField(),
        )
    )
    percent = DecimalField(max_digits=9, decimal_places=4)
    tables = (
        holders.values("pc_id")
        .annotate(
            total=Sum("shares"),
            physician=Coalesce(Sum("shares", filter=Q(kind="physician")), 0),
            licensee=Coalesce(Sum("shares", filter=Q(kind="licensee")), 0),
            physicians=Count("id", filter=Q(kind="physician")),
            licensees=Count("id", filter=Q(kind="licensee")),
            lay=Count("id", filter=Q(kind="lay")),
        )
        .annotate(
            physician_pct=ExpressionWrapper(F("physician") * Decimal(100) / F("total"), output_field=percent),
            licensee_pct=ExpressionWrapper(F("licensee") * Decimal(100) / F("total"), output_field=percent),
        )
    )
    problems = {
        "physicians_hold_under_51_percent": Q(physician_pct__lt=51),
        "licensees_hold_over_49_percent": Q(licensee_pct__gt=49),
        "more_licensee_than_physician_holders": Q(licensees__gt=F("physicians")),
        "lay_shareholder": Q(lay__gt=0),
    }
    broken = hits(
        tables.filter(any_of(problems)),
        ProfessionalCorporation,
        object_id=F("pc_id"),
        pc=F("pc_id"),
        evidence=JSONObject(
            pc=F("pc__legal_name"),
            problems=labels(problems),
            total_shares=F("total"),
            physician_shares=F("physician"),
            licensee_shares=F("licensee"),
            physician_percent=Round(F("physician_pct"), 2),
            lay_holders=ArrayAgg("name", filter=Q(kind="lay"), default=Value([])),
        ),
    )
    no_table = hits(
        for_pcs(ProfessionalCorporation.objects.filter(tenant_id=q.tenant_id), q, "pk").filter(
            ~Exists(Shareholder.objects.filter(pc=OuterRef("pk")))
        ),
        ProfessionalCorporation,
        pc=F("id"),
        evidence=JSONObject(pc=F("legal_name"), problems=Value(["no_shareholders_recorded"], JSONField())),
    )
    return union(broken, no_table)


@rule(
    "CPOM-002",
    title="PC owners hold an active licence in the PC's state",
    severity=Severity.CRITICAL,
    side=Side.BUSINESS,
    citation="B&P 2400 ff.",
    statement="Every licensed PC owner holds an active licence in the PC's state.",
    triggers=("management.Shareholder",),
)
def owner_license_not_active(q: RuleInput) -> QuerySet[Any]:
    """Licensed shareholders whose licence is not active, has no number, or is of another state (lay
    shareholders are CPOM-001's)."""
    problems = {
        "license_not_active": ~Q(license_status__in=ACTIVE_LICENSE),
        "no_license_number": Q(license_number=""),
        "license_of_another_state": ~Q(license_state=F("pc__state")),
    }
    owners = for_pcs(Shareholder.objects.filter(tenant_id=q.tenant_id), q).exclude(
        license_type=LicenseType.NONE
    )
    return hits(
        owners.filter(any_of(problems)),
        Shareholder,
        pc=F("pc_id"),
        evidence=JSONObject(
            shareholder=F("name"),
            pc=F("pc__legal_name"),
            pc_state=F("pc__state"),
            license_type=F("license_type"),
            license_number=F("license_number"),
            license_state=F("license_state"),
            license_status=F("license_status"),
            shares=F("shares"),
            problems=labels(problems),
        ),
    )


@rule(
    "CPOM-003",
    title="No MSO control of clinical decisions",
    severity=Severity.CRITICAL,
    side=Side.BUSINESS,
    citation="B&P 2052, 2264; Medical Board of California, Corporate Practice of Medicine; H&S 1191 (SB 351)",
    statement="No MSO user holds a clinical permission (approving clinical content, signing protocols); "
    "the MSA contains the non-clinical-role clause.",
    triggers=("management.PcGroupObjectPermission", "management.ManagementServicesAgreement"),
)
def mso_controls_clinical_decisions(q: RuleInput) -> QuerySet[Any]:
    """(a) a business-capacity membership granted a clinical permission on a PC; (b) an MSA in force or
    to come without the clause that keeps the MSO out of clinical decisions."""
    grants = for_pcs(
        PcGroupObjectPermission.objects.filter(
            tenant_id=q.tenant_id,
            permission__codename__in=CLINICAL_PERMISSIONS,
            group__membership__capacity__in=BUSINESS_CAPACITIES,
            group__membership__is_active=True,
        ),
        q,
        "content_object",
    )
    clinical_grants = hits(
        grants,
        PcGroupObjectPermission,
        pc=F("content_object_id"),
        evidence=JSONObject(
            problem=Value("mso_member_holds_clinical_permission"),
            person=F("group__membership__user__full_name"),
            email=F("group__membership__user__email"),
            capacity=F("group__membership__capacity"),
            permission=F("permission__codename"),
            pc=F("content_object__legal_name"),
        ),
    )
    msas = for_pcs(
        ManagementServicesAgreement.objects.filter(tenant_id=q.tenant_id, end_date__gte=q.today), q
    )
    no_clause = hits(
        msas.filter(non_clinical_role_clause=False),
        ManagementServicesAgreement,
        pc=F("pc_id"),
        evidence=JSONObject(
            problem=Value("msa_without_non_clinical_role_clause"),
            msa=F("title"),
            mso_entity=F("mso_entity__legal_name"),
            pc=F("pc__legal_name"),
        ),
    )
    return union(clinical_grants, no_clause)


@rule(
    "CPOM-004",
    title="Fictitious name permit for the name a location uses",
    severity=Severity.HIGH,
    side=Side.BUSINESS,
    citation="B&P 2285, 2415",
    statement="A PC practicing under a name other than its own (or its physician's) holds a current "
    "Medical Board fictitious name permit for that name, listed for each location using it.",
    triggers=("management.Location", "management.FictitiousNamePermit", "management.ProfessionalCorporation"),
)
def location_name_without_permit(q: RuleInput) -> QuerySet[Any]:
    """Locations whose trade name is neither the PC's legal name nor its physician's name and is not
    covered by a current permit of that PC for exactly that name, linked to the location."""
    permitted = FictitiousNamePermit.objects.filter(
        pk=OuterRef("name_permit_id"),
        pc=OuterRef("pc_id"),
        fictitious_name__iexact=OuterRef("trade_name"),
        issued_on__lte=q.today,
        expires_on__gte=q.today,
    )
    locations = (
        for_pcs(Location.objects.filter(tenant_id=q.tenant_id), q)
        .exclude(trade_name="")
        .exclude(trade_name__iexact=F("pc__legal_name"))
        .exclude(~Q(pc__physician_name="") & Q(trade_name__iexact=F("pc__physician_name")))
        .filter(~Exists(permitted))
    )
    return hits(
        locations,
        Location,
        pc=F("pc_id"),
        location=F("id"),
        evidence=JSONObject(
            location=F("name"),
            trade_name=F("trade_name"),
            pc=F("pc__legal_name"),
            permit_number=F("name_permit__permit_number"),
            permit_name=F("name_permit__fictitious_name"),
            permit_expires_on=F("name_permit__expires_on"),
        ),
    )


@rule(
    "CPOM-005",
    title="No investor control or gag/non-compete clauses in the MSA",
    severity=Severity.HIGH,
    side=Side.BUSINESS,
    citation="H&S 1190 ff. (SB 351, in force 2026-01-01); H&S 127507(h) (AB 1415)",
    statement="Where a private-equity group or hedge fund is involved, the MSA contains no term that lets "
    "it control clinical matters, bars clinicians from competing after they leave, or from commenting "
    "on quality, utilization or revenue practices. (The OHCA transaction notice is not recorded yet.)",
    triggers=("management.ManagementServicesAgreement", "management.MsoEntity"),
)
def investor_clauses(q: RuleInput) -> QuerySet[Any]:
    clauses = {
        "investor_clinical_control": Q(investor_clinical_control_clause=True),
        "clinician_noncompete": Q(clinician_noncompete_clause=True),
        "clinician_gag": Q(clinician_gag_clause=True),
    }
    msas = for_pcs(
        ManagementServicesAgreement.objects.filter(
            tenant_id=q.tenant_id,
            end_date__gte=q.today,
            mso_entity__investor_type__in=(InvestorType.PRIVATE_EQUITY, InvestorType.HEDGE_FUND),
        ),
        q,
    )
    return hits(
        msas.filter(any_of(clauses)),
        ManagementServicesAgreement,
        pc=F("pc_id"),
        evidence=JSONObject(
            msa=F("title"),
            mso_entity=F("mso_entity__legal_name"),
            investor_type=F("mso_entity__investor_type"),
            clauses=labels(clauses),
        ),
    )


@rule(
    "CPOM-007",
    title="No non-compete in employment contracts",
    severity=Severity.MEDIUM,
    side=Side.BUSINESS,
    citation="B&P 16600, 16600.1, 16600.5",
    statement="No employment contract of a clinician or staff member contains a non-compete (void in "
    "California; current and former employees are told so).",
    triggers=("management.StaffMember", "management.Provider"),
    scoped_by_pc=False,
)
def employment_noncompetes(q: RuleInput) -> QuerySet[Any]:
    staff = hits(
        StaffMember.objects.filter(tenant_id=q.tenant_id, contract_has_noncompete=True),
        StaffMember,
        location=F("location_id"),
        evidence=JSONObject(
            person=F("full_name"),
            role=F("job_title"),
            employer=F("employer__legal_name"),
            left_on=F("left_on"),
        ),
    )
    providers = hits(
        Provider.objects.filter(tenant_id=q.tenant_id, contract_has_noncompete=True),
        Provider,
        pc=F("pc_id"),
        evidence=JSONObject(
            person=F("full_name"), role=F("license_type"), employer=F("pc__legal_name"), left_on=Value(None)
        ),
    )
    return union(staff, providers)


# --- MSA and fees -----------------------------------------------------------------------------------


def amended(field: str, msa: str, on: Any) -> Subquery:
    """The newest `field` of the signed amendments of the MSA at OuterRef(`msa`) in effect on `on`."""
    changed = MsaAmendment.objects.filter(msa=OuterRef(msa), signed_on__isnull=False, effective_date__lte=on)
    changed = (
        changed.exclude(new_fee_basis="")
        if field == "new_fee_basis"
        else changed.filter(**{f"{field}__isnull": False})
    )
    return Subquery(changed.order_by("-effective_date", "-number").values(field)[:1])


def fee_terms(msa: str, on: Any, prefix: str) -> dict[str, Any]:
    """The fee basis, amount and rate in force on `on`: the MSA's, as changed by signed amendments."""
    return {
        "basis": Coalesce(amended("new_fee_basis", msa, on), F(f"{prefix}fee_basis")),
        "fee": Coalesce(amended("new_fee_amount", msa, on), F(f"{prefix}fee_amount")),
        "rate": Coalesce(amended("new_fee_rate_percent", msa, on), F(f"{prefix}fee_rate_percent")),
    }


FMV_MAX_AGE = threshold(
    "fmv_max_age_months",
    "24",
    "months",
    "How old an FMV opinion may be and still count as current.",
    "6",
    "60",
)


@rule(
    "MSA-001",
    title="A signed MSA in force for every location",
    severity=Severity.CRITICAL,
    side=Side.BUSINESS,
    citation="Seeds (MSO structure); B&P 2400, 2052",
    statement="Every PC served at a location has a signed, unexpired MSA with the MSO entity managing "
    "that location.",
    triggers=("management.Location", "management.ManagementServicesAgreement"),
)
def location_without_msa(q: RuleInput) -> QuerySet[Any]:
    in_force = ManagementServicesAgreement.objects.filter(
        pc=OuterRef("pc_id"),
        mso_entity=OuterRef("managing_entity_id"),
        signed_on__isnull=False,
        signed_on__lte=q.today,
        effective_date__lte=q.today,
        end_date__gte=q.today,
    )
    latest = ManagementServicesAgreement.objects.filter(
        pc=OuterRef("pc_id"), mso_entity=OuterRef("managing_entity_id")
    ).order_by("-end_date")
    return hits(
        for_pcs(Location.objects.filter(tenant_id=q.tenant_id), q).filter(~Exists(in_force)),
        Location,
        pc=F("pc_id"),
        location=F("id"),
        evidence=JSONObject(
            location=F("name"),
            pc=F("pc__legal_name"),
            mso_entity=F("managing_entity__legal_name"),
            latest_msa=Subquery(latest.values("title")[:1]),
            latest_msa_signed_on=Subquery(latest.values("signed_on")[:1]),
            latest_msa_end_date=Subquery(latest.values("end_date")[:1]),
        ),
    )


@rule(
    "MSA-002",
    title="The MSA records the required clauses",
    severity=Severity.HIGH,
    side=Side.BUSINESS,
    citation="Seeds (MSA essentials)",
    statement="The MSA records a defined scope of services, fee terms, the non-clinical-role clause, "
    "dispute resolution, term and termination, performance standards and a governing state matching "
    "the PC's (the FMV basis is MSA-004's).",
    triggers=("management.ManagementServicesAgreement", "management.PerformanceStandard"),
)
def msa_missing_clauses(q: RuleInput) -> QuerySet[Any]:
    needs_amount = Q(fee_basis__in=(FeeBasis.FIXED_MONTHLY, FeeBasis.PER_UNIT), fee_amount__isnull=True)
    needs_rate = Q(
        fee_basis__in=(FeeBasis.COST_PLUS, FeeBasis.PERCENT_OF_COLLECTIONS), fee_rate_percent__isnull=True
    )
    missing = {
        "scope_of_services": Q(services=[]),
        "fee_terms": needs_amount | needs_rate | Q(fee_basis=FeeBasis.PER_UNIT, fee_unit=""),
        "non_clinical_role_clause": Q(non_clinical_role_clause=False),
        "dispute_resolution_clause": Q(dispute_resolution_clause=False),
        "term_and_termination": Q(termination_clause=False) | Q(termination_notice_days__isnull=True),
        "performance_standards": Q(has_standards=False),
        "governing_state_of_pc": ~Q(governing_state=F("pc__state")),
    }
    msas = for_pcs(
        ManagementServicesAgreement.objects.filter(tenant_id=q.tenant_id, end_date__gte=q.today), q
    ).alias(has_standards=Exists(PerformanceStandard.objects.filter(msa=OuterRef("pk"))))
    return hits(
        msas.filter(any_of(missing)),
        ManagementServicesAgreement,
        pc=F("pc_id"),
        evidence=JSONObject(
            msa=F("title"),
            pc=F("pc__legal_name"),
            pc_state=F("pc__state"),
            governing_state=F("governing_state"),
            missing=labels(missing),
        ),
    )


@rule(
    "MSA-003",
    title="A percentage fee has a current FMV opinion and counsel review",
    severity=Severity.HIGH,
    side=Side.BUSINESS,
    citation="B&P 650(b); Epic Medical Management v. Paquette (2015); seeds",
    statement="The fee basis is fixed, cost-plus or per unit of service. A percentage of PC revenue is "
    "lawful in California only if commensurate with the services' value: it needs a current FMV "
    "opinion and recorded counsel review (high without them, low advisory with them).",
    thresholds=(FMV_MAX_AGE,),
    triggers=("management.ManagementServicesAgreement", "management.MsaAmendment"),
)
def percentage_fee(q: RuleInput) -> QuerySet[Any]:
    oldest = months_before(q.today, whole(q, "fmv_max_age_months"))
    terms = fee_terms("pk", q.today, "")
    covered = Q(fmv_opinion_date__gte=oldest, fmv_opinion_date__lte=q.today, counsel_reviewed_on__lte=q.today)
    msas = for_pcs(
        ManagementServicesAgreement.objects.filter(tenant_id=q.tenant_id, end_date__gte=q.today), q
    ).alias(basis=terms["basis"], rate=terms["rate"])
    return hits(
        msas.filter(basis=FeeBasis.PERCENT_OF_COLLECTIONS),
        ManagementServicesAgreement,
        pc=F("pc_id"),
        severity=Case(When(covered, then=Value(Severity.LOW.value)), output_field=CharField()),
        evidence=JSONObject(
            msa=F("title"),
            pc=F("pc__legal_name"),
            rate_percent=F("rate"),
            fmv_opinion_date=F("fmv_opinion_date"),
            counsel_reviewed_on=F("counsel_reviewed_on"),
            advisory=Case(When(covered, then=Value(True)), default=Value(False)),
        ),
    )


@rule(
    "MSA-004",
    title="FMV evidence current and covering the fee",
    severity=Severity.HIGH,
    side=Side.BUSINESS,
    citation="B&P 650(b); seeds",
    statement="An independent FMV opinion dated within 24 months covers the fee, and the monthly fee "
    "lies inside its range (for fees that vary, the average invoice of the last 12 months).",
    thresholds=(FMV_MAX_AGE,),
    triggers=(
        "management.ManagementServicesAgreement",
        "management.MsaAmendment",
        "management.ManagementFeeInvoice",
    ),
)
def fmv_evidence(q: RuleInput) -> QuerySet[Any]:
    oldest = months_before(q.today, whole(q, "fmv_max_age_months"))
    terms = fee_terms("pk", q.today, "")
    recent = (
        ManagementFeeInvoice.objects.filter(
            msa=OuterRef("pk"), status__in=BILLED, period_start__gte=months_before(q.today, 12)
        )
        .values("msa")
        .annotate(mean=Avg("amount"))
        .values("mean")
    )
    problems = {
        "no_fmv_opinion": Q(fmv_opinion_date__isnull=True),
        "fmv_opinion_stale": Q(fmv_opinion_date__lt=oldest),
        "no_fmv_range": Q(fmv_low__isnull=True) | Q(fmv_high__isnull=True),
        "fee_below_fmv_range": Q(monthly_fee__lt=F("fmv_low")),
        "fee_above_fmv_range": Q(monthly_fee__gt=F("fmv_high")),
    }
    msas = for_pcs(
        ManagementServicesAgreement.objects.filter(tenant_id=q.tenant_id, end_date__gte=q.today), q
    ).alias(
        basis=terms["basis"],
        monthly_fee=Case(
            When(basis=FeeBasis.FIXED_MONTHLY, then=terms["fee"]),
            default=Subquery(recent),
            output_field=DecimalField(max_digits=14, decimal_places=2),
        ),
    )
    return hits(
        msas.filter(any_of(problems)),
        ManagementServicesAgreement,
        pc=F("pc_id"),
        evidence=JSONObject(
            msa=F("title"),
            pc=F("pc__legal_name"),
            fee_basis=F("basis"),
            monthly_fee=Round(F("monthly_fee"), 2),
            fmv_opinion_date=F("fmv_opinion_date"),
            fmv_appraiser=F("fmv_appraiser"),
            fmv_low=F("fmv_low"),
            fmv_high=F("fmv_high"),
            problems=labels(problems),
        ),
    )


@rule(
    "FEE-001",
    title="Invoice matches the MSA",
    severity=Severity.HIGH,
    side=Side.BUSINESS,
    citation="B&P 650; seeds",
    statement="Each management-fee invoice equals what the MSA terms (as amended) give for its period, "
    "within the tolerance: the monthly fee times the months of a fixed fee, the rate times the PC's "
    "collections of a percentage fee. Cost-plus and per-unit fees are not checked (no cost or unit data).",
    thresholds=(
        threshold(
            "tolerance_percent", "1", "%", "How far an invoice may differ from the MSA terms.", "0", "10"
        ),
    ),
    triggers=(
        "management.ManagementFeeInvoice",
        "management.ManagementServicesAgreement",
        "management.MsaAmendment",
        "management.PcCollection",
    ),
)
def invoice_differs_from_msa(q: RuleInput) -> QuerySet[Any]:
    terms = fee_terms("msa_id", OuterRef("period_start"), "msa__")
    months = ExpressionWrapper(
        (ExtractYear("period_end") - ExtractYear("period_start")) * 12
        + ExtractMonth("period_end")
        - ExtractMonth("period_start")
        + 1,
        output_field=IntegerField(),
    )
    collected = (
        PcCollection.objects.filter(
            pc=OuterRef("msa__pc_id"),
            month__gte=OuterRef("period_month"),
            month__lte=OuterRef("period_end"),
        )
        .values("pc")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    money = DecimalField(max_digits=14, decimal_places=2)
    invoices = for_pcs(
        ManagementFeeInvoice.objects.filter(tenant_id=q.tenant_id, status__in=BILLED), q, "msa__pc"
    ).alias(
        period_month=TruncMonth("period_start", output_field=DateField()),
        basis=terms["basis"],
        fee=terms["fee"],
        rate=terms["rate"],
        collected=Subquery(collected),
        expected=Case(
            When(basis=FeeBasis.FIXED_MONTHLY, then=F("fee") * months),
            When(
                basis=FeeBasis.PERCENT_OF_COLLECTIONS,
                then=Round(F("rate") * F("collected") / Decimal(100), 2),
            ),
            output_field=money,
        ),
        outside_term=ExpressionWrapper(
            Q(period_end__lt=F("msa__effective_date")) | Q(period_start__gt=F("msa__end_date")),
            output_field=BooleanField(),
        ),
    )
    tolerance = q.params["tolerance_percent"]
    off = Q(
        expected__isnull=False,
        difference__gt=ExpressionWrapper(F("expected") * tolerance / Decimal(100), output_field=money),
    )
    return hits(
        invoices.alias(difference=Abs(F("amount") - F("expected"))).filter(off | Q(outside_term=True)),
        ManagementFeeInvoice,
        pc=F("msa__pc_id"),
        evidence=JSONObject(
            invoice=F("number"),
            msa=F("msa__title"),
            period_start=F("period_start"),
            period_end=F("period_end"),
            amount=F("amount"),
            expected=F("expected"),
            fee_basis=F("basis"),
            collections=F("collected"),
            outside_msa_term=F("outside_term"),
        ),
    )


@rule(
    "FEE-002",
    title="De facto percentage fee",
    severity=Severity.HIGH,
    side=Side.BUSINESS,
    citation="B&P 650; seeds",
    statement="Over the trailing months, the invoiced fees of an MSA that says fixed track the PC's "
    "collections: Pearson r at or above the threshold and a near-constant fee/collections ratio.",
    thresholds=(
        threshold("lookback_months", "12", "months", "How far back invoices are compared.", "6", "36"),
        threshold(
            "min_months", "6", "months", "Fewest invoiced months with collections to judge.", "4", "24"
        ),
        threshold(
            "min_correlation", "0.9", "r", "Pearson correlation of fees and collections.", "0.5", "0.99"
        ),
        threshold(
            "max_ratio_variation_percent",
            "5",
            "%",
            "Coefficient of variation of fee/collections under which the ratio counts as constant.",
            "0.5",
            "25",
        ),
    ),
    triggers=(
        "management.ManagementFeeInvoice",
        "management.PcCollection",
        "management.ManagementServicesAgreement",
    ),
)
def de_facto_percentage(q: RuleInput) -> QuerySet[Any]:
    since = months_before(q.today, whole(q, "lookback_months")).replace(day=1)
    collected = PcCollection.objects.filter(pc=OuterRef("msa__pc_id"), month=OuterRef("period_month")).values(
        "amount"
    )[:1]
    ratio = DecimalField(max_digits=20, decimal_places=10)
    months = (
        for_pcs(
            ManagementFeeInvoice.objects.filter(
                tenant_id=q.tenant_id,
                status__in=BILLED,
                period_start__gte=since,
                period_start__lte=q.today,
                msa__fee_basis=FeeBasis.FIXED_MONTHLY,
            ),
            q,
            "msa__pc",
        )
        .alias(period_month=TruncMonth("period_start", output_field=DateField()))
        .alias(collected=Subquery(collected))
        .filter(collected__gt=0)
        .alias(ratio=ExpressionWrapper(F("amount") / F("collected"), output_field=ratio))
    )
    tracked = (
        months.values("msa_id")
        .annotate(
            months=Count("id"),
            r=Corr("amount", "collected"),
            ratio_mean=Avg("ratio"),
            ratio_sd=StdDev("ratio", sample=True),
        )
        .filter(
            months__gte=whole(q, "min_months"),
            r__gte=q.params["min_correlation"],
            ratio_sd__lte=F("ratio_mean") * q.params["max_ratio_variation_percent"] / Decimal(100),
        )
    )
    return hits(
        tracked,
        ManagementServicesAgreement,
        object_id=F("msa_id"),
        pc=F("msa__pc_id"),
        evidence=JSONObject(
            msa=F("msa__title"),
            fixed_fee=F("msa__fee_amount"),
            months=F("months"),
            correlation=Round(F("r"), 4),
            mean_percent_of_collections=Round(F("ratio_mean") * 100, 2),
            first_period=Min("period_start"),
            last_period=Max("period_start"),
        ),
    )


@rule(
    "FEE-003",
    title="Fee changed without an amendment",
    severity=Severity.MEDIUM,
    side=Side.BUSINESS,
    citation="Seeds (MSA amendments)",
    statement="A fixed fee changed (a new amount that the next invoice keeps) while no signed amendment "
    "changing the fee took effect since the previous invoice. One-off deviations and amounts that move "
    "every month are FEE-001's and FEE-002's.",
    triggers=("management.ManagementFeeInvoice", "management.MsaAmendment"),
)
def fee_changed_without_amendment(q: RuleInput) -> QuerySet[Any]:
    fee_amendments = (
        MsaAmendment.objects.filter(
            msa=OuterRef("msa_id"), signed_on__isnull=False, effective_date__lte=OuterRef("period_start")
        )
        .filter(
            ~Q(new_fee_basis="") | Q(new_fee_amount__isnull=False) | Q(new_fee_rate_percent__isnull=False)
        )
        .values("msa")
        .annotate(n=Count("pk"))
        .values("n")
    )
    amendments_so_far = Coalesce(Subquery(fee_amendments), 0)

    def per_msa(expression: Func) -> Window:
        """`expression` over the MSA's invoices in period order (LAG/LEAD reach the neighbours)."""
        return Window(
            expression, partition_by=[F("msa_id")], order_by=[F("period_start").asc(), F("number").asc()]
        )

    invoices = (
        for_pcs(
            ManagementFeeInvoice.objects.filter(
                tenant_id=q.tenant_id, status__in=BILLED, msa__fee_basis=FeeBasis.FIXED_MONTHLY
            ),
            q,
            "msa__pc",
        )
        .annotate(
            amendments=amendments_so_far,
            before=per_msa(Lag("amount", 1)),
            two_before=per_msa(Lag("amount", 2)),
            after=per_msa(Lead("amount", 1)),
            previous_number=per_msa(Lag("number", 1)),
            previous_amendments=per_msa(Lag(amendments_so_far, 1)),
        )
        .filter(before__isnull=False)
        .exclude(amount=F("before"))
        # A new level, not a return to the one before a one-off (the invoice two back).
        .filter(Q(two_before__isnull=True) | ~Q(two_before=F("amount")))
        # The next invoice keeps the new amount: a level, not a fluctuation (those are FEE-001/002's).
        .filter(after=F("amount"))
        .filter(amendments=F("previous_amendments"))
    )
    return hits(
        invoices,
        ManagementFeeInvoice,
        pc=F("msa__pc_id"),
        evidence=JSONObject(
            invoice=F("number"),
            msa=F("msa__title"),
            period_start=F("period_start"),
            amount=F("amount"),
            previous_invoice=F("previous_number"),
            previous_amount=F("before"),
            msa_fee=F("msa__fee_amount"),
        ),
    )


REFERRAL_UNIT = r"\m(leads?|referrals?|referred|new patients?|new clients?|bookings?)\M"


@rule(
    "FEE-004",
    title="No pay per referral",
    severity=Severity.HIGH,
    side=Side.BUSINESS,
    citation="B&P 650(a), 2273",
    statement="No marketing or vendor fee, and no per-unit MSA fee, is paid per lead, per new patient or "
    "per referral.",
    triggers=("management.Vendor", "management.ManagementServicesAgreement"),
    scoped_by_pc=False,  # vendors are the tenant's, not a PC's
)
def pay_per_referral(q: RuleInput) -> QuerySet[Any]:
    vendors = hits(
        Vendor.objects.filter(
            tenant_id=q.tenant_id,
            fee_basis__in=(Vendor.FeeBasis.PER_LEAD, Vendor.FeeBasis.PER_NEW_PATIENT),
        ),
        Vendor,
        evidence=JSONObject(
            vendor=F("name"), service=F("service"), fee_basis=F("fee_basis"), fee_amount=F("fee_amount")
        ),
    )
    msas = hits(
        ManagementServicesAgreement.objects.filter(
            tenant_id=q.tenant_id,
            end_date__gte=q.today,
            fee_basis=FeeBasis.PER_UNIT,
            fee_unit__iregex=REFERRAL_UNIT,
        ),
        ManagementServicesAgreement,
        pc=F("pc_id"),
        evidence=JSONObject(
            vendor=F("mso_entity__legal_name"),
            service=F("title"),
            fee_basis=F("fee_unit"),
            fee_amount=F("fee_amount"),
        ),
    )
    return union(vendors, msas)


# --- corporate distinction ---------------------------------------------------------------------------


@rule(
    "SEP-001",
    title="Separate bank accounts",
    severity=Severity.CRITICAL,
    side=Side.BUSINESS,
    citation="Seeds (corporate formalities)",
    statement="The MSO entities and each PC have their own bank accounts; no account is shared by two "
    "entities (the same bank, routing number and last four digits recorded for two owners).",
    triggers=(
        "management.BankAccount",
        "management.MsoEntity",
        "management.ProfessionalCorporation",
    ),
    scoped_by_pc=False,
)
def shared_or_missing_accounts(q: RuleInput) -> QuerySet[Any]:
    holder = Coalesce("mso_entity_id", "pc_id")
    same_account = (
        BankAccount.objects.filter(tenant_id=q.tenant_id, account_last4=OuterRef("account_last4"))
        .filter(
            Q(routing_number=OuterRef("routing_number"), routing_number__gt="")
            | Q(routing_number="", bank_name__iexact=OuterRef("bank_name"))
        )
        .exclude(pk=OuterRef("pk"))
        .annotate(holder=holder)
        .exclude(holder=OuterRef("holder"))
    )
    accounts = BankAccount.objects.filter(tenant_id=q.tenant_id).annotate(holder=holder)
    shared = hits(
        accounts.filter(Exists(same_account)),
        BankAccount,
        pc=F("pc_id"),
        evidence=JSONObject(
            problem=Value("account_shared"),
            owner=Coalesce("mso_entity__legal_name", "pc__legal_name"),
            bank=F("bank_name"),
            last4=F("account_last4"),
            also_owned_by=Subquery(
                same_account.annotate(name=Coalesce("mso_entity__legal_name", "pc__legal_name")).values(
                    "name"
                )[:1]
            ),
        ),
    )
    pcs = hits(
        ProfessionalCorporation.objects.filter(tenant_id=q.tenant_id).filter(
            ~Exists(BankAccount.objects.filter(pc=OuterRef("pk")))
        ),
        ProfessionalCorporation,
        pc=F("id"),
        evidence=JSONObject(
            problem=Value("no_account"), owner=F("legal_name"), bank=Value(None), last4=Value(None)
        ),
    )
    entities = hits(
        MsoEntity.objects.filter(tenant_id=q.tenant_id).filter(
            ~Exists(BankAccount.objects.filter(mso_entity=OuterRef("pk")))
        ),
        MsoEntity,
        evidence=JSONObject(
            problem=Value("no_account"), owner=F("legal_name"), bank=Value(None), last4=Value(None)
        ),
    )
    return union(shared, pcs, entities)


@rule(
    "SEP-002",
    title="Clinical revenue lands in the PC",
    severity=Severity.CRITICAL,
    side=Side.BUSINESS,
    citation="B&P 2400, 2052; seeds",
    statement="Patient payments for medical services are deposited to an account of the PC serving the "
    "location, not the MSO's (retail sales may be the MSO's).",
    triggers=("management.PatientPayment", "management.BankAccount"),
    narrows={"management.PatientPayment": "pk"},
)
def clinical_revenue_outside_pc(q: RuleInput) -> QuerySet[Any]:
    payments = for_pcs(
        for_objects(
            PatientPayment.objects.filter(tenant_id=q.tenant_id, kind=PatientPayment.Kind.MEDICAL_SERVICE), q
        ),
        q,
        "location__pc",
    ).filter(Q(deposited_to__pc__isnull=True) | ~Q(deposited_to__pc=F("location__pc")))
    return hits(
        payments,
        PatientPayment,
        pc=F("location__pc_id"),
        location=F("location_id"),
        evidence=JSONObject(
            location=F("location__name"),
            received_on=F("received_on"),
            amount=F("amount"),
            currency=F("currency"),
            deposited_to=Concat(F("deposited_to__bank_name"), Value(" ••"), F("deposited_to__account_last4")),
            account_owner=Coalesce("deposited_to__mso_entity__legal_name", "deposited_to__pc__legal_name"),
            pc=F("location__pc__legal_name"),
        ),
    )


@rule(
    "SEP-003",
    title="Separate branding",
    severity=Severity.LOW,
    side=Side.BUSINESS,
    citation="Seeds (corporate formalities)",
    statement="Each entity uses its own name: no advertisement or location presents the MSO entity's "
    "legal name as the provider of medical services.",
    triggers=("management.MarketingAsset", "management.Location", "management.MsoEntity"),
)
def mso_name_on_medical_branding(q: RuleInput) -> QuerySet[Any]:
    def mso_named(field: str) -> Exists:
        return Exists(
            MsoEntity.objects.filter(tenant_id=q.tenant_id, legal_name__iexact=OuterRef(field)).exclude(
                legal_name=""
            )
        )

    ads = hits(
        for_pcs(MarketingAsset.objects.filter(tenant_id=q.tenant_id), q)
        .exclude(state=ReviewState.WITHDRAWN)
        .filter(mso_named("brand_name")),
        MarketingAsset,
        pc=F("pc_id"),
        location=F("location_id"),
        evidence=JSONObject(item=F("title"), name_used=F("brand_name"), pc=F("pc__legal_name")),
    )
    sites = hits(
        for_pcs(Location.objects.filter(tenant_id=q.tenant_id), q).filter(mso_named("trade_name")),
        Location,
        pc=F("pc_id"),
        location=F("id"),
        evidence=JSONObject(item=F("name"), name_used=F("trade_name"), pc=F("pc__legal_name")),
    )
    return union(ads, sites)


# --- credentials ------------------------------------------------------------------------------------


def license_lapsed_on(provider: str, on: Any) -> Q:
    """The provider (path prefix) holds no active licence in the PC's state on `on`."""
    return (
        Q(**{f"{provider}license_expires_on__lt": on})
        | ~Q(**{f"{provider}license_status__in": ACTIVE_LICENSE})
        | ~Q(**{f"{provider}license_state": F(f"{provider}pc__state")})
    )


@rule(
    "LIC-001",
    title="Clinicians on the schedule hold an active licence",
    severity=Severity.CRITICAL,
    side=Side.BUSINESS,
    citation="B&P 2052, 2725, 2836, 3502",
    statement="Every clinician who saw patients or is scheduled holds an active licence on that date "
    "(treatments themselves are clinical records: the business side reads the schedule).",
    triggers=("management.Provider", "management.Appointment"),
    # Not by appointment: a day's appointments name nearly every provider, and with the
    # (provider_id, starts_at) index the whole rule costs less than mapping them (re-checked by PC).
    narrows={"management.Provider": "pk"},
)
def unlicensed_on_schedule(q: RuleInput) -> QuerySet[Any]:
    visits = (
        Appointment.objects.filter(provider=OuterRef("pk"), status__in=KEPT)
        .annotate(on=TruncDate("starts_at"))
        .order_by("starts_at")
    )
    # Past the expiry date, or (a status or state problem has no date) from today on. Local days
    # are compared as the instants they begin: an index range on (provider, starts_at) per provider.
    after_expiry = visits.filter(starts_at__gte=DayStartAfter(OuterRef("license_expires_on")))
    from_today = visits.filter(starts_at__gte=start_of(q.today))
    by_status = ~Q(license_status__in=ACTIVE_LICENSE) | ~Q(license_state=F("pc__state"))
    providers = for_pcs(
        for_objects(Provider.objects.filter(tenant_id=q.tenant_id, active=True), q), q
    ).filter((Q(license_expires_on__lt=q.today) & Exists(after_expiry)) | (by_status & Exists(from_today)))
    return hits(
        providers,
        Provider,
        pc=F("pc_id"),
        evidence=JSONObject(
            provider=F("full_name"),
            license_type=F("license_type"),
            license_number=F("license_number"),
            license_state=F("license_state"),
            license_status=F("license_status"),
            license_expires_on=F("license_expires_on"),
            first_appointment_while_lapsed=Case(
                When(license_expires_on__lt=q.today, then=Subquery(after_expiry.values("on")[:1])),
                default=Subquery(from_today.values("on")[:1]),
            ),
        ),
    )


CREDENTIALS = (  # (discriminator, expiry field, what else the provider must hold for it to count)
    ("license", "license_expires_on", Q()),
    ("dea_registration", "dea_expires_on", ~Q(dea_number="")),
    ("cures_registration", "cures_expires_on", Q()),
    ("np_furnishing_number", "np_furnishing_expires_on", Q()),
    ("pa_practice_agreement", "pa_practice_agreement_expires_on", Q()),
)


@rule(
    "LIC-002",
    title="Credential expiring soon",
    severity=Severity.MEDIUM,
    side=Side.BUSINESS,
    citation="B&P 2420 ff. (MD renewal), 2811 (RN), 2836.1 (NP furnishing), 3502.3 (PA); "
    "H&S 11165.1 (CURES); 21 CFR 1301.13 (DEA)",
    statement="A licence, NP furnishing number, PA practice agreement, CURES or DEA registration "
    "expires within 90 days: low within 90, medium within 60, high within 30.",
    thresholds=(
        threshold(
            "notice_days", "90", "days", "Report credentials expiring within this many days.", "30", "180"
        ),
        threshold(
            "medium_days", "60", "days", "Medium severity from this many days before expiry.", "14", "120"
        ),
        threshold("high_days", "30", "days", "High severity from this many days before expiry.", "7", "60"),
    ),
    triggers=("management.Provider",),
    narrows={"management.Provider": "pk"},
)
def credential_expiring(q: RuleInput) -> QuerySet[Any]:
    def within(name: str) -> dt.date:
        return q.today + dt.timedelta(days=whole(q, name))

    providers = for_pcs(for_objects(Provider.objects.filter(tenant_id=q.tenant_id, active=True), q), q)
    parts = []
    for credential, field, held in CREDENTIALS:
        expiring = providers.filter(
            held, **{f"{field}__gte": q.today, f"{field}__lte": within("notice_days")}
        )
        parts.append(
            hits(
                expiring,
                Provider,
                discriminator=Value(credential),
                pc=F("pc_id"),
                severity=Case(
                    When(**{f"{field}__lte": within("high_days")}, then=Value(Severity.HIGH.value)),
                    When(**{f"{field}__lte": within("medium_days")}, then=Value(Severity.MEDIUM.value)),
                    default=Value(Severity.LOW.value),
                    output_field=CharField(),
                ),
                evidence=JSONObject(
                    provider=F("full_name"),
                    license_type=F("license_type"),
                    credential=Value(credential),
                    expires_on=F(field),
                    days_left=DaysBetween(F(field), day(q.today)),
                ),
            )
        )
    return union(*parts)


@rule(
    "LIC-003",
    title="Booked with a lapsed credential",
    severity=Severity.HIGH,
    side=Side.BUSINESS,
    citation="B&P 2052, 2725, 2836, 3502",
    statement="A future appointment is booked with a provider whose licence will be lapsed (or is not "
    "active) on that day.",
    triggers=("management.Appointment", "management.Provider"),
    narrows={"management.Appointment": "pk"},
)
def booked_while_lapsed(q: RuleInput) -> QuerySet[Any]:
    appointments = (
        for_pcs(
            for_objects(Appointment.objects.filter(tenant_id=q.tenant_id, status__in=UPCOMING), q),
            q,
            "location__pc",
        )
        .filter(starts_at__gte=start_of(q.today))
        .alias(on=TruncDate("starts_at"))
        .filter(license_lapsed_on("provider__", F("on")))
    )
    return hits(
        appointments,
        Appointment,
        pc=F("location__pc_id"),
        location=F("location_id"),
        evidence=JSONObject(
            provider=F("provider__full_name"),
            license_type=F("provider__license_type"),
            license_status=F("provider__license_status"),
            license_expires_on=F("provider__license_expires_on"),
            appointment_on=F("on"),
            location=F("location__name"),
            service=F("service"),
        ),
    )


# --- advertising --------------------------------------------------------------------------------------


def live_assets(q: RuleInput) -> QuerySet[MarketingAsset]:
    """Assets going out or out: submitted or published, unless the physician's decision on exactly this
    content already sent them back (rejected or changes requested)."""
    return (
        for_pcs(MarketingAsset.objects.filter(tenant_id=q.tenant_id), q)
        .filter(state__in=(ReviewState.SUBMITTED, ReviewState.PUBLISHED))
        .exclude(
            decision__in=(Decision.REJECTED, Decision.CHANGES_REQUESTED), decision_hash=F("content_hash")
        )
    )


@rule(
    "ADV-001",
    title="Published only as approved",
    severity=Severity.CRITICAL,
    side=Side.BUSINESS,
    citation="B&P 651; seeds",
    statement="Every published asset has a physician approval of its exact current content; an approval "
    "that an edit voided is flagged until the content is approved again (high while not published).",
    triggers=("management.MarketingAsset", "management.MarketingImage"),
)
def published_without_current_approval(q: RuleInput) -> QuerySet[Any]:
    current = Q(decision=Decision.APPROVED, decision_hash=F("content_hash"))
    out = Q(state=ReviewState.PUBLISHED) | Q(published_at__isnull=False, state=ReviewState.SUBMITTED)
    stale = Q(decision=Decision.APPROVED) & ~Q(decision_hash=F("content_hash"))
    assets = for_pcs(MarketingAsset.objects.filter(tenant_id=q.tenant_id), q).filter(
        (out & ~current) | (stale & ~Q(state=ReviewState.WITHDRAWN))
    )
    return hits(
        assets,
        MarketingAsset,
        pc=F("pc_id"),
        location=F("location_id"),
        severity=Case(
            When(out, then=Value(None)), default=Value(Severity.HIGH.value), output_field=CharField()
        ),
        evidence=JSONObject(
            asset=F("title"),
            state=F("state"),
            revision=F("revision"),
            decision=F("decision"),
            decided_at=F("decided_at"),
            published_at=F("published_at"),
            approved_hash=F("decision_hash"),
            content_hash=F("content_hash"),
        ),
    )


# PostgreSQL regular expressions (ARE, matched case-insensitively); \m and \M are word boundaries.
CLAIMS = {
    "guarantee": r"\mguarantee(s|d)?\M",
    "painless": r"\mpain[- ]?(less|free)\M",
    "risk_free": r"\m(risk[- ]?free|no risks?|zero risk|100% safe|completely safe)\M",
    "no_downtime": r"\m(no|zero|without)\s+downtime\M",
    "fda_approved": r"\mFDA[- ]?(approved|cleared)\M",
    "superlative": r"(\m(best|safest|cheapest|top[- ]rated|number one)\M|#1)",
}
PRICE = r"(\$\s?[0-9][0-9,]*(\.[0-9]{2})?|\m[0-9]+\s?%\s?off\M|(^|[^[:alnum:]-])free\M)"
PRICE_TERMS = (
    r"\m(terms|conditions|restrictions|expires?|valid (until|through|thru)|offer ends|"
    r"while supplies last|subject to|not valid with|limit(ed to)? one)\M"
)


@rule(
    "ADV-002",
    title="Advertising claim lint",
    severity=Severity.MEDIUM,
    side=Side.BUSINESS,
    citation="B&P 651(a), 651(b), 17500",
    statement="Flags guarantees, 'painless', 'risk-free', 'no downtime', 'FDA-approved' (off-label use "
    "unknown: verify), superlatives, prices without terms and testimonials without a disclosure.",
    triggers=("management.MarketingAsset",),
)
def advertising_claims(q: RuleInput) -> QuerySet[Any]:
    priced = Q(text__iregex=PRICE) & ~Q(text__iregex=PRICE_TERMS)
    undisclosed = Q(is_testimonial=True, testimonial_disclosure="")
    flagged = reduce(or_, (Q(text__iregex=p) for p in CLAIMS.values()), priced | undisclosed)
    matched: dict[str, Expression] = {
        name: RegexpSubstr("text", Value(pattern)) for name, pattern in CLAIMS.items()
    }
    matched["price_without_terms"] = Case(When(priced, then=RegexpSubstr("text", Value(PRICE))))
    matched["testimonial_without_disclosure"] = Case(When(undisclosed, then=Value("testimonial")))
    assets = live_assets(q).alias(text=Concat("title", Value("\n"), "body", output_field=CharField()))
    return hits(
        assets.filter(flagged),
        MarketingAsset,
        pc=F("pc_id"),
        location=F("location_id"),
        evidence=JSONObject(asset=F("title"), state=F("state"), matched=StripNulls(JSONObject(**matched))),
    )


@rule(
    "ADV-003",
    title="Before/after images honest and labelled",
    severity=Severity.HIGH,
    side=Side.BUSINESS,
    citation="B&P 651(b)(3); 45 CFR 164.508(a)(3); Civil Code 56.11",
    statement="Images are not altered; photos of models are labelled as such; real-patient before/after "
    "images say which procedures were done and whose they are (the authorization is CON-002's).",
    triggers=("management.MarketingImage", "management.MarketingAsset"),
)
def before_after_images(q: RuleInput) -> QuerySet[Any]:
    patient = Q(kind=MarketingImage.Kind.BEFORE_AFTER_PATIENT)
    problems = {
        "altered": Q(altered=True),
        "model_not_labelled": Q(kind=MarketingImage.Kind.BEFORE_AFTER_MODEL, labelled_as_model=False),
        "procedures_not_stated": patient & Q(procedures_shown=""),
        "patient_not_identified": patient & Q(client__isnull=True),
    }
    images = MarketingImage.objects.filter(tenant_id=q.tenant_id, asset__in=live_assets(q))
    return hits(
        images.filter(any_of(problems)),
        MarketingImage,
        pc=F("asset__pc_id"),
        location=F("asset__location_id"),
        evidence=JSONObject(
            image=F("description"), asset=F("asset__title"), kind=F("kind"), problems=labels(problems)
        ),
    )


@rule(
    "ADV-004",
    title="The brand an ad uses is permitted",
    severity=Severity.HIGH,
    side=Side.BUSINESS,
    citation="B&P 2285",
    statement="The name an ad uses is the PC's own name, its physician's name, or a fictitious name with "
    "a current permit of that PC (CPOM-004).",
    triggers=("management.MarketingAsset", "management.FictitiousNamePermit"),
)
def ad_brand_not_permitted(q: RuleInput) -> QuerySet[Any]:
    permit = FictitiousNamePermit.objects.filter(
        pc=OuterRef("pc_id"),
        fictitious_name__iexact=OuterRef("brand_name"),
        issued_on__lte=q.today,
        expires_on__gte=q.today,
    )
    assets = (
        live_assets(q)
        .exclude(brand_name__iexact=F("pc__legal_name"))
        .exclude(~Q(pc__physician_name="") & Q(brand_name__iexact=F("pc__physician_name")))
        .filter(~Exists(permit))
    )
    return hits(
        assets,
        MarketingAsset,
        pc=F("pc_id"),
        location=F("location_id"),
        evidence=JSONObject(asset=F("title"), brand_name=F("brand_name"), pc=F("pc__legal_name")),
    )


# --- HIPAA, OSHA and operations -----------------------------------------------------------------------


@rule(
    "BAA-001",
    title="Vendor handling PHI has a signed BAA",
    severity=Severity.HIGH,
    side=Side.BUSINESS,
    citation="HIPAA 45 CFR 164.308(b), 164.502(e)",
    statement="Every vendor that handles PHI has a signed business associate agreement in force.",
    triggers=("management.Vendor", "management.BusinessAssociateAgreement"),
    scoped_by_pc=False,
)
def vendors_without_baa(q: RuleInput) -> QuerySet[Any]:
    in_force = BusinessAssociateAgreement.objects.filter(
        vendor=OuterRef("pk"), signed_on__lte=q.today
    ).filter(Q(expires_on__isnull=True) | Q(expires_on__gte=q.today))
    latest = BusinessAssociateAgreement.objects.filter(vendor=OuterRef("pk")).order_by("-signed_on")
    return hits(
        Vendor.objects.filter(tenant_id=q.tenant_id, handles_phi=True).filter(~Exists(in_force)),
        Vendor,
        evidence=JSONObject(
            vendor=F("name"),
            service=F("service"),
            last_baa_signed_on=Subquery(latest.values("signed_on")[:1]),
            last_baa_expires_on=Subquery(latest.values("expires_on")[:1]),
        ),
    )


TRAINING_AGE = threshold(
    "training_max_age_days", "365", "days", "How old the latest training may be.", "180", "730"
)
HIRE_GRACE = threshold(
    "hire_grace_days", "30", "days", "Days after hire before the first training is due.", "0", "90"
)


def untrained_staff(q: RuleInput, kind: str, staff: QuerySet[StaffMember]) -> QuerySet[Any]:
    """Staff employed today, hired before the grace period, with no `kind` training recent enough."""
    recent = TrainingRecord.objects.filter(
        staff_member=OuterRef("pk"),
        kind=kind,
        completed_on__lte=q.today,
        completed_on__gt=q.today - dt.timedelta(days=whole(q, "training_max_age_days")),
    )
    latest = TrainingRecord.objects.filter(staff_member=OuterRef("pk"), kind=kind).order_by("-completed_on")
    employed = staff.filter(
        tenant_id=q.tenant_id,
        hired_on__lte=q.today - dt.timedelta(days=whole(q, "hire_grace_days")),
    ).filter(Q(left_on__isnull=True) | Q(left_on__gt=q.today))
    return hits(
        employed.filter(~Exists(recent)),
        StaffMember,
        pc=F("location__pc_id"),
        location=F("location_id"),
        evidence=JSONObject(
            person=F("full_name"),
            role=F("job_title"),
            hired_on=F("hired_on"),
            training=Value(kind),
            last_training_on=Subquery(latest.values("completed_on")[:1]),
        ),
    )


@rule(
    "HIP-002",
    title="Workforce HIPAA training",
    severity=Severity.MEDIUM,
    side=Side.BUSINESS,
    citation="HIPAA 45 CFR 164.308(a)(5), 164.530(b)",
    statement="Each workforce member is trained on HIPAA at hire and yearly.",
    thresholds=(TRAINING_AGE, HIRE_GRACE),
    triggers=("management.StaffMember", "management.TrainingRecord"),
    scoped_by_pc=False,
)
def hipaa_training(q: RuleInput) -> QuerySet[Any]:
    return untrained_staff(q, TrainingRecord.Kind.HIPAA, StaffMember.objects.all())


@rule(
    "OSH-001",
    title="Bloodborne-pathogen training for exposed staff",
    severity=Severity.MEDIUM,
    side=Side.BUSINESS,
    citation="8 CCR 5193",
    statement="Staff with occupational exposure are trained on bloodborne pathogens at hire and yearly "
    "(the exposure control plan and sharps injury log are not recorded yet).",
    thresholds=(TRAINING_AGE, HIRE_GRACE),
    triggers=("management.StaffMember", "management.TrainingRecord"),
    scoped_by_pc=False,
)
def bloodborne_pathogen_training(q: RuleInput) -> QuerySet[Any]:
    exposed = StaffMember.objects.filter(exposure_risk=True)
    return untrained_staff(q, TrainingRecord.Kind.BLOODBORNE_PATHOGENS, exposed)


@rule(
    "WST-001",
    title="Medical waste registration",
    severity=Severity.LOW,
    side=Side.BUSINESS,
    citation="H&S 117600 ff. (Medical Waste Management Act)",
    statement="Each location generating sharps holds a current medical-waste registration.",
    triggers=("management.Location", "management.MedicalWasteRegistration"),
)
def waste_registration(q: RuleInput) -> QuerySet[Any]:
    current = MedicalWasteRegistration.objects.filter(
        location=OuterRef("pk"), issued_on__lte=q.today, expires_on__gte=q.today
    )
    latest = MedicalWasteRegistration.objects.filter(location=OuterRef("pk")).order_by("-expires_on")
    return hits(
        for_pcs(Location.objects.filter(tenant_id=q.tenant_id, generates_sharps=True), q).filter(
            ~Exists(current)
        ),
        Location,
        pc=F("pc_id"),
        location=F("id"),
        evidence=JSONObject(
            location=F("name"),
            last_registration=Subquery(latest.values("registration_number")[:1]),
            last_expires_on=Subquery(latest.values("expires_on")[:1]),
        ),
    )


@rule(
    "EQP-001",
    title="Laser/IPL maintenance",
    severity=Severity.MEDIUM,
    side=Side.BUSINESS,
    citation="Manufacturer service intervals; 21 CFR 1040.10 (laser products)",
    statement="Each laser or IPL device has a service record inside the interval the device sets.",
    triggers=("management.Equipment", "management.EquipmentService"),
)
def equipment_service_overdue(q: RuleInput) -> QuerySet[Any]:
    last = Subquery(
        EquipmentService.objects.filter(equipment=OuterRef("pk"), serviced_on__lte=q.today)
        .order_by("-serviced_on")
        .values("serviced_on")[:1]
    )
    devices = (
        for_pcs(
            Equipment.objects.filter(
                tenant_id=q.tenant_id, kind__in=(Equipment.Kind.LASER, Equipment.Kind.IPL)
            ),
            q,
            "location__pc",
        )
        .alias(last_service=last)
        .alias(since=DaysBetween(day(q.today), F("last_service")))
        .filter(Q(last_service__isnull=True) | Q(since__gt=F("service_interval_days")))
    )
    return hits(
        devices,
        Equipment,
        pc=F("location__pc_id"),
        location=F("location_id"),
        evidence=JSONObject(
            device=Concat("manufacturer", Value(" "), "model_name", output_field=CharField()),
            serial_number=F("serial_number"),
            location=F("location__name"),
            last_service_on=F("last_service"),
            days_since_service=F("since"),
            interval_days=F("service_interval_days"),
        ),
    )


@rule(
    "LAB-001",
    title="Waived lab tests: CLIA waiver and lab director",
    severity=Severity.LOW,
    side=Side.BUSINESS,
    citation="B&P 1209, 1265; 42 CFR 493.35",
    statement="A location running waived tests holds a CLIA certificate of waiver and names a lab "
    "director (the state registration is not recorded yet).",
    triggers=("management.Location",),
)
def waived_lab_tests(q: RuleInput) -> QuerySet[Any]:
    problems = {"no_clia_waiver": Q(clia_waiver_number=""), "no_lab_director": Q(lab_director="")}
    return hits(
        for_pcs(Location.objects.filter(tenant_id=q.tenant_id, runs_waived_lab_tests=True), q).filter(
            any_of(problems)
        ),
        Location,
        pc=F("pc_id"),
        location=F("id"),
        evidence=JSONObject(location=F("name"), problems=labels(problems)),
    )
