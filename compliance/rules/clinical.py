"""The clinical-side rules of RULES.md (scope, delegation, exams, consents, charts): ``Side.CLINICAL``.

They read schema ``clinical``, which PostgreSQL refuses to the business role: only a clinical
capacity (or the engine acting for one) runs them, and only a clinical capacity sees their findings.
Every query is one SQL statement (Exists/Subquery/aggregates); dates come from ``RuleInput.today``
and the tenant's local time zone (``TruncDate`` of a timestamp is its local date).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.contrib.postgres.expressions import ArraySubquery
from django.contrib.postgres.fields import ArrayField
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    DateField,
    DateTimeField,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest, JSONObject, Least, TruncDate

from clinical.models import (
    ChartReview,
    GoodFaithExam,
    PatientChart,
    PhotoAuthorization,
    ProcedureScopeRule,
    Protocol,
    ProtocolSupervisee,
    SignedConsent,
    Treatment,
    TreatmentPhoto,
    TreatmentProduct,
)
from compliance.registry import (
    AnyOf,
    DayStart,
    DayStartAfter,
    ExistsAmong,
    KeysOf,
    RuleInput,
    Severity,
    Threshold,
    exists,
    for_objects,
    for_pcs,
    hit,
    hits,
    months_before,
    rule,
    start_of,
    whole,
)
from management.models import Decision, Location, ProfessionalCorporation, Provider
from management.procedures import (
    LASER_PROCEDURES,
    MEDICAL_PROCEDURES,
    PHYSICIAN_LICENSES,
    LicenseStatus,
    LicenseType,
    Procedure,
)
from tenants.capacities import Side

# B&P 2242: who may perform the good-faith exam (never an RN).
EXAMINER_LICENSES = (LicenseType.MD, LicenseType.DO, LicenseType.NP, LicenseType.PA)
# B&P 2725 / 2836.1 / 3502.3: the licensees who treat only under a protocol or practice agreement.
DELEGATED_LICENSES = (LicenseType.RN, LicenseType.NP, LicenseType.PA)
# Procedures whose chart must name the product and its lot (drugs and devices that can be recalled).
PRODUCT_PROCEDURES = (Procedure.NEUROTOXIN, Procedure.DERMAL_FILLER, Procedure.MEDICAL_PEEL)


class AddMonths(Func):
    """``date + n months`` as a date (PostgreSQL clamps the 31st to the month's last day)."""

    arg_joiner = " + "
    template = "(%(expressions)s * interval '1 month')::date"
    output_field = DateField()


class AddHours(Func):
    """``timestamp + n hours``."""

    arg_joiner = " + "
    template = "(%(expressions)s * interval '1 hour')"
    output_field = DateTimeField()


class MonthOf(Func):
    """The first day of a date's month, as a date."""

    template = "date_trunc('month', %(expressions)s)::date"
    output_field = DateField()


class YearMonth(Func):
    """``YYYY-MM`` of a date: the month a finding is about (its discriminator)."""

    template = "to_char(%(expressions)s, 'YYYY-MM')"
    output_field = CharField()


class Has(Func):
    """``value = ANY(array)``: the array holds the value (``array @> ARRAY[value]`` builds an array for
    every comparison, which the exam and protocol anti-joins make per treatment and candidate)."""

    arg_joiner = " = ANY("
    template = "(%(expressions)s))"
    output_field = BooleanField()


class TextArray(Func):
    """``array_remove(ARRAY[...], NULL)``: the non-null texts among the expressions."""

    template = "array_remove(ARRAY[%(expressions)s]::text[], NULL)"
    output_field = ArrayField(CharField())


# A changed treatment is the object of its own findings (change runs re-check those treatments alone).
BY_TREATMENT = {"clinical.Treatment": "pk"}


def _treatments(q: RuleInput) -> QuerySet[Any]:
    """The tenant's treatments (of the PCs or the treatments asked about), each with its local date as
    ``day``. A rule reading it narrows by treatment: ``narrows=BY_TREATMENT``.

    The PC scope is ``chart_id IN (the PCs' charts)``: no join to the chart table in ``FROM``."""
    qs = for_objects(Treatment.objects.filter(tenant_id=q.tenant_id), q)
    if q.pc_ids is not None:
        charts = PatientChart.objects.filter(tenant_id=q.tenant_id, pc_id__in=q.pc_ids)
        qs = qs.filter(chart_id__in=charts.values("pk"))
    return qs.annotate(day=TruncDate("performed_at"))


def _column(model: type[Any], pk: str, field: str) -> Subquery:
    """`field` of the `model` row whose key is the outer row's `pk` column, as a scalar subquery:
    evaluated for the hits only, where a join would put the table in every row's ``FROM``."""
    return Subquery(model.objects.filter(pk=OuterRef(pk)).order_by().values(field)[:1])


def _scope_rules(q: RuleInput, license_type: str = "performer__license_type") -> QuerySet[Any]:
    """The scope-table rows for the outer treatment's state, procedure and a license type."""
    return ProcedureScopeRule.objects.filter(
        tenant_id=q.tenant_id,
        state=OuterRef("location__state"),
        procedure=OuterRef("procedure"),
        license_type=OuterRef(license_type),
    )


def _delegated(q: RuleInput) -> Q:
    """Treatments done on someone else's authority: an RN/NP/PA doing a medical procedure, or any
    licensee the scope table allows only under supervision; a 103/104 NP practises independently."""
    supervised = _scope_rules(q).filter(allowed=True).exclude(supervision=ProcedureScopeRule.Supervision.NONE)
    return (
        Q(performer__license_type__in=DELEGATED_LICENSES, procedure__in=MEDICAL_PROCEDURES)
        | Exists(supervised)
    ) & ~Q(performer__license_type=LicenseType.NP, performer__np_independent_103_104=True)


def _treatment_hits(qs: QuerySet[Any], evidence: dict[str, Any]) -> QuerySet[Any]:
    """Hits about the treatments of `qs`, with the facts every treatment finding shows."""
    return hits(
        qs,
        Treatment,
        pc=_column(PatientChart, "chart_id", "pc_id"),
        location=F("location_id"),
        evidence=JSONObject(
            chart=_column(PatientChart, "chart_id", "medical_record_number"),
            procedure=F("procedure"),
            performed_on=F("day"),
            performer=_column(Provider, "performer_id", "full_name"),
            performer_license=_column(Provider, "performer_id", "license_type"),
            location=_column(Location, "location_id", "name"),
            **evidence,
        ),
    )


# --- the rules the demo plants (GFE-001, DEL-002, CHT-001) -----------------------------------------


@rule(
    "GFE-001",
    title="Good-faith exam before prescription treatment",
    severity=Severity.CRITICAL,
    side=Side.CLINICAL,
    citation="B&P 2242; B&P 2290.5 (telehealth)",
    statement=(
        "A physician, NP or PA (never an RN) examined the patient, recorded a medical indication and "
        "approved the procedure before the treatment (telehealth with the patient's documented consent), "
        "and the exam is inside its validity window."
    ),
    thresholds=(
        Threshold(
            "validity_months",
            Decimal(12),
            "months",
            "How long a good-faith exam covers treatments (a practice default; the statute sets none).",
            Decimal(1),
            Decimal(24),
        ),
    ),
    triggers=("clinical.Treatment", "clinical.GoodFaithExam", "clinical.ProcedureScopeRule"),
    narrows=BY_TREATMENT,
)
def treatments_without_good_faith_exam(q: RuleInput) -> QuerySet[Any]:
    # Every medical procedure needs the exam unless the tenant's scope table says otherwise.
    needs_exam = (
        Q(procedure__in=MEDICAL_PROCEDURES) & ~Exists(_scope_rules(q).filter(requires_good_faith_exam=False))
    ) | Exists(_scope_rules(q).filter(requires_good_faith_exam=True))
    # The same, less the state (a treatment-only test, checked before the exams are looked for).
    may_need_exam = Q(procedure__in=MEDICAL_PROCEDURES) | Exists(
        ProcedureScopeRule.objects.filter(
            tenant_id=q.tenant_id, procedure=OuterRef("procedure"), requires_good_faith_exam=True
        )
    )
    # Exams that can qualify: by a physician, NP or PA, with a medical indication, telehealth only
    # with consent; valid until the earlier of their own date and the validity window (both NOT NULL).
    usable = (
        GoodFaithExam.objects.filter(tenant_id=q.tenant_id, examiner__license_type__in=EXAMINER_LICENSES)
        .filter(Q(via_telehealth=False) | Q(telehealth_consent=True))
        .exclude(medical_indication__regex=r"^\s*$")
        .annotate(
            covers_until=Least(
                F("valid_until"), AddMonths(F("examined_on"), Value(whole(q, "validity_months")))
            )
        )
    )
    if q.object_ids is None:
        # A whole-tenant (or PC) run hashes every exam: each exam's window is computed once, as the
        # instants it begins and ends, instead of again for every treatment of its chart it is
        # compared with (the same test: a local day is within the window iff its instant is).
        windows = (
            usable.annotate(
                covers_from=DayStart(F("examined_on")), covers_before=DayStartAfter(F("covers_until"))
            )
            .order_by()
            .values("chart_id", "approved_procedures", "covers_from", "covers_before")
        )
        no_exam: Any = ExistsAmong(
            windows,
            'r."chart_id" = {0} AND {1} = ANY(r."approved_procedures")'
            ' AND r."covers_from" <= {2} AND {2} < r."covers_before"',
            "chart_id",
            "procedure",
            "performed_at",
            negated=True,
        )
    else:  # a few thousand treatments: an index probe each
        qualifying = usable.filter(
            Has(OuterRef("procedure"), F("approved_procedures")),
            chart_id=OuterRef("chart_id"),
            examined_on__lte=OuterRef("day"),
            covers_until__gte=OuterRef("day"),
        )
        no_exam = ~exists(qualifying, q)
    exams = GoodFaithExam.objects.filter(tenant_id=q.tenant_id, chart_id=OuterRef("chart_id"))
    latest = exams.filter(examined_on__lte=OuterRef("day")).order_by("-examined_on")
    return _treatment_hits(
        _treatments(q).filter(may_need_exam).filter(needs_exam).filter(no_exam),
        {
            "latest_exam_on": Subquery(latest.values("examined_on")[:1]),
            "latest_examiner_license": Subquery(latest.values("examiner__license_type")[:1]),
            "latest_exam_approves": Subquery(latest.values("approved_procedures")[:1]),
            "latest_exam_valid_until": Subquery(latest.values("valid_until")[:1]),
            "latest_exam_via_telehealth": Subquery(latest.values("via_telehealth")[:1]),
            "latest_exam_telehealth_consent": Subquery(latest.values("telehealth_consent")[:1]),
            "validity_months": Value(whole(q, "validity_months")),
        },
    )


@rule(
    "DEL-002",
    title="Standardized procedure in force",
    severity=Severity.CRITICAL,
    side=Side.CLINICAL,
    citation="B&P 2725; 16 CCR 1474; B&P 2836.1 (NP); B&P 3502.3 (PA)",
    statement=(
        "RN (and NP/PA) treatments are covered on their date by a protocol of the PC, signed by its "
        "supervising physician and by the performer before the treatment, in force that day, naming "
        "the performer and the procedure."
    ),
    triggers=(
        "clinical.Treatment",
        "clinical.Protocol",
        "clinical.ProtocolSupervisee",
        "clinical.ProcedureScopeRule",
    ),
    narrows=BY_TREATMENT,
)
def delegated_treatments_without_protocol(q: RuleInput) -> QuerySet[Any]:
    naming = ProtocolSupervisee.objects.filter(
        tenant_id=q.tenant_id,
        provider_id=OuterRef("performer_id"),
        protocol__pc_id=OuterRef("chart__pc_id"),
    ).filter(Has(OuterRef("procedure"), F("protocol__procedures")))
    # Each protocol's term as the instants it begins and ends, computed once per supervisee row rather
    # than again for every delegated treatment compared with it (a local day is in the term iff its
    # instant is).
    terms = (
        ProtocolSupervisee.objects.filter(tenant_id=q.tenant_id)
        .annotate(
            pc_id=F("protocol__pc_id"),
            procedures=F("protocol__procedures"),
            supervisor_signed_at=F("protocol__supervisor_signed_at"),
            in_force_from=DayStart(F("protocol__effective_on")),
            in_force_before=DayStartAfter(F("protocol__expires_on")),
        )
        .order_by()
        .values(
            "provider_id",
            "pc_id",
            "procedures",
            "signed_at",
            "supervisor_signed_at",
            "in_force_from",
            "in_force_before",
        )
    )
    no_protocol_in_force = ExistsAmong(
        terms,
        'r."provider_id" = {0} AND r."pc_id" = {1} AND {2} = ANY(r."procedures")'
        ' AND r."signed_at" <= {3} AND r."supervisor_signed_at" <= {3}'
        ' AND r."in_force_from" <= {3} AND {3} < r."in_force_before"',
        "performer_id",
        "chart__pc_id",
        "procedure",
        "performed_at",
        negated=True,
    )
    # What the reader needs: the protocols that name the performer and procedure, and why they fail.
    candidates = naming.values(
        facts=JSONObject(
            title=F("protocol__title"),
            supervisor=F("protocol__supervisor__full_name"),
            supervisor_signed_at=F("protocol__supervisor_signed_at"),
            performer_signed_at=F("signed_at"),
            effective_on=F("protocol__effective_on"),
            expires_on=F("protocol__expires_on"),
        )
    )
    return _treatment_hits(
        _treatments(q).filter(_delegated(q)).filter(no_protocol_in_force),
        {
            "supervisor": F("supervisor__full_name"),
            "protocols_naming_performer": ArraySubquery(candidates),
        },
    )


@rule(
    "CHT-001",
    title="Chart completed on time",
    severity=Severity.MEDIUM,
    side=Side.CLINICAL,
    citation="Practice standard (RULES.md CHT-001)",
    statement="Treatment notes, product and lot are recorded within 72 hours of the treatment.",
    thresholds=(
        Threshold(
            "charting_hours",
            Decimal(72),
            "hours",
            "Hours after a treatment by which its notes, product and lot are recorded.",
            Decimal(1),
            Decimal(168),
        ),
    ),
    triggers=("clinical.Treatment", "clinical.TreatmentProduct"),
    narrows={**BY_TREATMENT, "clinical.TreatmentProduct": "treatment_id"},
)
def treatments_not_charted_in_time(q: RuleInput) -> QuerySet[Any]:
    hours = whole(q, "charting_hours")
    product_and_lot = TreatmentProduct.objects.filter(
        tenant_id=q.tenant_id, treatment_id=OuterRef("pk")
    ).exclude(Q(product_name__regex=r"^\s*$") | Q(lot_number__regex=r"^\s*$"))
    needs_product = Q(procedure__in=PRODUCT_PROCEDURES)
    # Judged once the deadline passed before the audit's day began (no finding for work in progress):
    # performed before that instant minus the hours (a range on the column, no per-row arithmetic).
    judged = _treatments(q).filter(performed_at__lt=start_of(q.today) - dt.timedelta(hours=hours))
    late_or_empty = (
        Q(charted_at__isnull=True)
        | Q(charted_at__gt=AddHours(F("performed_at"), Value(hours)))
        | Q(notes__regex=r"^\s*$")
    )
    evidence = {
        "performed_at": F("performed_at"),
        "charted_at": F("charted_at"),
        "deadline": AddHours(F("performed_at"), Value(hours)),
        "charted_in_time": Case(
            When(charted_at__lte=AddHours(F("performed_at"), Value(hours)), then=Value(True)),
            default=Value(False),
        ),
        "notes_recorded": ExpressionWrapper(~Q(notes__regex=r"^\s*$"), output_field=BooleanField()),
        "product_and_lot_recorded": Case(
            When(needs_product & ~exists(product_and_lot, q), then=Value(False)), default=Value(True)
        ),
        "hours": Value(hours),
    }
    missing_product = needs_product & ~exists(product_and_lot, q)
    if q.object_ids is not None:
        # A run narrowed to the changed rows reads them once; it probes products per row anyway.
        return _treatment_hits(judged.filter(late_or_empty | missing_product), evidence)
    # Two parts: late or empty charts; the rest, when a product or its lot is missing. The second is a
    # top-level NOT EXISTS, which PostgreSQL runs as one anti-join instead of a probe per treatment.
    return _treatment_hits(judged.filter(late_or_empty), evidence).union(
        _treatment_hits(
            judged.exclude(late_or_empty).filter(needs_product).filter(~exists(product_and_lot, q)), evidence
        ),
        all=True,
    )


# --- scope of practice and supervision -------------------------------------------------------------


@rule(
    "DEL-001",
    title="Performer licensed for the procedure",
    severity=Severity.CRITICAL,
    side=Side.CLINICAL,
    citation=(
        "B&P 2052, 2725 (RN), 2836.1 (NP), 3502.3 (PA); Medical Board of California, Cosmetic Treatments "
        "FAQ; B&P 2860.5 (LVN, tenant setting)"
    ),
    statement=(
        "The performer's license type may do the procedure in the state where it was done (the tenant's "
        "scope table; LVN injections default to not allowed) and the license is of that state."
    ),
    triggers=("clinical.Treatment", "clinical.ProcedureScopeRule"),
    narrows=BY_TREATMENT,
)
def treatments_outside_scope(q: RuleInput) -> QuerySet[Any]:
    scope = _scope_rules(q)
    # A consultation is no procedure: the scope table does not speak about it.
    return _treatment_hits(
        _treatments(q)
        .exclude(procedure=Procedure.CONSULTATION)
        .filter(~Exists(scope.filter(allowed=True)) | ~Q(performer__license_state=F("location__state"))),
        {
            "state": F("location__state"),
            "performer_license_state": F("performer__license_state"),
            "scope_rule_allowed": Subquery(scope.values("allowed")[:1]),
            "scope_rule_note": Subquery(scope.values("note")[:1]),
            "scope_rule_citation": Subquery(scope.values("citation")[:1]),
        },
    )


@rule(
    "DEL-003",
    title="Supervisor qualified and licensed",
    severity=Severity.CRITICAL,
    side=Side.CLINICAL,
    citation="B&P 3501(e); B&P 2725; B&P 2836.1",
    statement=(
        "A delegated treatment names its supervising physician, who holds an active license of the "
        "treatment's state on the treatment date (not on probation) and may perform that procedure."
    ),
    triggers=("clinical.Treatment", "clinical.ProcedureScopeRule", "management.Provider"),
    narrows=BY_TREATMENT,
)
def treatments_with_unqualified_supervisor(q: RuleInput) -> QuerySet[Any]:
    may_supervise = (
        _scope_rules(q, license_type="supervisor__license_type")
        .filter(allowed=True, supervision=ProcedureScopeRule.Supervision.NONE)
        .values("pk")
    )
    # Current status is all the data keeps: probation counts against, for a reader to check its terms.
    qualified = Q(
        supervisor__license_type__in=PHYSICIAN_LICENSES,
        supervisor__license_status=LicenseStatus.ACTIVE,
        supervisor__license_expires_on__gte=F("day"),
        supervisor__license_state=F("location__state"),
    ) & Exists(may_supervise)
    return _treatment_hits(
        _treatments(q)
        .filter(procedure__in=MEDICAL_PROCEDURES)
        .filter(Q(supervisor__isnull=False) | _delegated(q))
        .annotate(supervisor_qualified=Case(When(qualified, then=Value(True)), default=Value(False)))
        .filter(supervisor_qualified=False),
        {
            "supervisor": F("supervisor__full_name"),
            "supervisor_license": F("supervisor__license_type"),
            "supervisor_license_state": F("supervisor__license_state"),
            "supervisor_license_status": F("supervisor__license_status"),
            "supervisor_license_expires_on": F("supervisor__license_expires_on"),
            "state": F("location__state"),
        },
    )


@rule(
    "DEL-004",
    title="Supervision limits and PA practice agreements",
    severity=Severity.HIGH,
    side=Side.CLINICAL,
    citation="B&P 3516 (PA ratio); B&P 2836.1 (furnishing NPs); B&P 3502.3 (practice agreement)",
    statement=(
        "A physician supervises at most 4 PAs and at most 4 furnishing NPs who are not 103/104 NPs at "
        "once (signed protocols in force today), and every active PA has a signed practice agreement in "
        "force."
    ),
    thresholds=(
        Threshold(
            "max_pas",
            Decimal(4),
            "PAs",
            "PAs one physician may supervise at once (B&P 3516: 4; a tenant may only go lower).",
            Decimal(1),
            Decimal(4),
        ),
        Threshold(
            "max_furnishing_nps",
            Decimal(4),
            "NPs",
            "Furnishing NPs (not 103/104) one physician may supervise at once (B&P 2836.1: 4).",
            Decimal(1),
            Decimal(4),
        ),
    ),
    triggers=("clinical.Protocol", "clinical.ProtocolSupervisee", "management.Provider"),
)
def supervision_over_limits(q: RuleInput) -> QuerySet[Any]:
    signed_by = start_of(q.today + dt.timedelta(days=1))
    in_force = ProtocolSupervisee.objects.filter(
        tenant_id=q.tenant_id,
        provider__active=True,
        signed_at__lt=signed_by,
        protocol__supervisor_signed_at__lt=signed_by,
        protocol__effective_on__lte=q.today,
        protocol__expires_on__gte=q.today,
    )
    pas = in_force.filter(protocol__supervisor_id=OuterRef("pk"), provider__license_type=LicenseType.PA)
    nps = in_force.filter(
        protocol__supervisor_id=OuterRef("pk"),
        provider__license_type=LicenseType.NP,
        provider__np_independent_103_104=False,
    ).exclude(provider__np_furnishing_number="")

    def count(supervisees: QuerySet[Any]) -> Coalesce:
        counted = supervisees.values("protocol__supervisor_id").annotate(
            n=Count("provider_id", distinct=True)
        )
        return Coalesce(Subquery(counted.values("n"), output_field=IntegerField()), Value(0))

    def names(supervisees: QuerySet[Any]) -> ArraySubquery:
        return ArraySubquery(supervisees.order_by().values("provider__full_name").distinct())

    agreement = in_force.filter(provider_id=OuterRef("pk"), protocol__kind=Protocol.Kind.PRACTICE_AGREEMENT)
    max_pas, max_nps = whole(q, "max_pas"), whole(q, "max_furnishing_nps")
    qs = for_pcs(Provider.objects.filter(tenant_id=q.tenant_id), q, "pc_id")
    return hits(
        qs.annotate(
            supervised_pas=count(pas),
            supervised_nps=count(nps),
            practice_agreement_in_force=Exists(agreement),
        ).filter(
            Q(supervised_pas__gt=max_pas)
            | Q(supervised_nps__gt=max_nps)
            | Q(license_type=LicenseType.PA, active=True, practice_agreement_in_force=False)
        ),
        Provider,
        pc=F("pc_id"),
        evidence=JSONObject(
            provider=F("full_name"),
            license=F("license_type"),
            supervised_pas=F("supervised_pas"),
            supervised_pa_names=names(pas),
            max_pas=Value(max_pas),
            supervised_furnishing_nps=F("supervised_nps"),
            supervised_np_names=names(nps),
            max_furnishing_nps=Value(max_nps),
            practice_agreement_in_force=Case(
                When(license_type=LicenseType.PA, then=F("practice_agreement_in_force")),
                default=Value(None, output_field=BooleanField()),
            ),
            pa_practice_agreement_signed_on=F("pa_practice_agreement_signed_on"),
            pa_practice_agreement_expires_on=F("pa_practice_agreement_expires_on"),
        ),
    )


@rule(
    "PRT-001",
    title="Laser protocol content and review",
    severity=Severity.MEDIUM,
    side=Side.CLINICAL,
    citation="B&P 2023.5",
    statement=(
        "A signed laser/IPL protocol in force covers patient selection, education and consent, topical "
        "agents, complications and emergencies, supervision level and training, and was reviewed within "
        "the tenant's interval."
    ),
    thresholds=(
        Threshold(
            "review_interval_months",
            Decimal(12),
            "months",
            "How often a laser/IPL protocol is reviewed.",
            Decimal(1),
            Decimal(36),
        ),
    ),
    triggers=("clinical.Protocol",),
)
def laser_protocols_incomplete_or_stale(q: RuleInput) -> QuerySet[Any]:
    interval = whole(q, "review_interval_months")
    flags = (
        ("covers_patient_selection", "patient selection"),
        ("covers_education_and_consent", "education and consent"),
        ("covers_topical_agents", "topical agents"),
        ("covers_complications", "complications and emergencies"),
        ("covers_supervision_and_training", "supervision level and training"),
    )
    missing = TextArray(
        *(
            Case(When(**{flag: False}, then=Value(label)), default=Value(None), output_field=CharField())
            for flag, label in flags
        )
    )
    qs = for_pcs(
        Protocol.objects.filter(
            tenant_id=q.tenant_id,
            supervisor_signed_at__isnull=False,  # a draft is not in force (DEL-002 catches work under it)
            expires_on__gte=q.today,
        ).filter(Q(kind=Protocol.Kind.LASER_PROTOCOL) | Q(procedures__overlap=sorted(LASER_PROCEDURES))),
        q,
        "pc_id",
    )
    any_missing = Q()
    for flag, _ in flags:
        any_missing |= Q(**{flag: False})
    return hits(
        qs.annotate(
            last_review=Coalesce("reviewed_on", TruncDate("supervisor_signed_at"), output_field=DateField())
        )
        .annotate(review_due=AddMonths(F("last_review"), Value(interval)))
        .filter(any_missing | Q(review_due__lt=q.today)),
        Protocol,
        pc=F("pc_id"),
        evidence=JSONObject(
            title=F("title"),
            supervisor=F("supervisor__full_name"),
            missing_content=missing,
            last_review=F("last_review"),
            review_due=F("review_due"),
            review_interval_months=Value(interval),
        ),
    )


# --- consents and photos ---------------------------------------------------------------------------


@rule(
    "CON-001",
    title="Consent signed",
    severity=Severity.HIGH,
    side=Side.CLINICAL,
    citation="Practice standard (RULES.md CON-001); B&P 2259 (verify)",
    statement=(
        "Every treatment has the patient's consent, signed before it, on a consent-form version of the "
        "PC for that procedure that a physician had approved and that was current when signed."
    ),
    triggers=("clinical.Treatment", "clinical.SignedConsent", "clinical.ConsentFormVersion"),
    narrows=BY_TREATMENT,
)
def treatments_without_consent(q: RuleInput) -> QuerySet[Any]:
    # The consent's chart is the treatment's: its PC is theirs. Read from the consent's chart (200,000
    # consents joined to their charts, or a probe by key per changed treatment), not the treatment's
    # (a join of every treatment with its chart before the anti-join: 0.85 s against 1.2 s alone).
    valid = SignedConsent.objects.filter(
        tenant_id=q.tenant_id,
        chart_id=OuterRef("chart_id"),
        signed_at__lte=OuterRef("performed_at"),
        form_version__pc_id=F("chart__pc_id"),
        form_version__procedure=OuterRef("procedure"),
        form_version__approved_at__lte=F("signed_at"),
        form_version__decision__decision=Decision.APPROVED,
    ).filter(Q(form_version__superseded_at__isnull=True) | Q(form_version__superseded_at__gt=F("signed_at")))
    return _treatment_hits(
        _treatments(q).exclude(procedure=Procedure.CONSULTATION).filter(~exists(valid, q)),
        {
            "consent_signed_at": _column(SignedConsent, "consent_id", "signed_at"),
            "consent_form": _column(SignedConsent, "consent_id", "form_version__title"),
            "consent_form_version": _column(SignedConsent, "consent_id", "form_version__number"),
            "consent_form_procedure": _column(SignedConsent, "consent_id", "form_version__procedure"),
            "consent_form_superseded_at": _column(SignedConsent, "consent_id", "form_version__superseded_at"),
        },
    )


@rule(
    "CON-002",
    title="Photo authorization",
    severity=Severity.HIGH,
    side=Side.CLINICAL,
    citation="HIPAA 45 CFR 164.508; Civil Code 56.11",
    statement=(
        "Before/after photos used anywhere outside the chart have the patient's signed authorization, "
        "not revoked and not expired."
    ),
    triggers=("clinical.TreatmentPhoto", "clinical.PhotoAuthorization"),
    narrows={"clinical.TreatmentPhoto": "pk"},
)
def photos_used_without_authorization(q: RuleInput) -> QuerySet[Any]:
    authorized = (
        PhotoAuthorization.objects.filter(
            tenant_id=q.tenant_id, chart_id=OuterRef("treatment__chart_id"), signed_on__lte=q.today
        )
        .filter(Q(revoked_on__isnull=True) | Q(revoked_on__gt=q.today))
        .filter(Q(expires_on__isnull=True) | Q(expires_on__gte=q.today))
    )
    qs = for_pcs(
        for_objects(TreatmentPhoto.objects.filter(tenant_id=q.tenant_id, used_outside_chart=True), q),
        q,
        "treatment__chart__pc_id",
    )
    return hits(
        qs.filter(~Exists(authorized)),
        TreatmentPhoto,
        pc=F("treatment__chart__pc_id"),
        location=F("treatment__location_id"),
        evidence=JSONObject(
            chart=F("treatment__chart__medical_record_number"),
            kind=F("kind"),
            description=F("description"),
            taken_at=F("taken_at"),
            procedure=F("treatment__procedure"),
            authorization_signed_on=F("authorization__signed_on"),
            authorization_revoked_on=F("authorization__revoked_on"),
            authorization_expires_on=F("authorization__expires_on"),
        ),
    )


# --- charts ----------------------------------------------------------------------------------------


def review_months(q: RuleInput) -> tuple[dt.date, dt.date]:
    """CHT-002's months: from the first checked month up to (not including) the current one."""
    this_month = q.today.replace(day=1)
    return months_before(this_month, whole(q, "months_checked")), this_month


def treated_pc_months(q: RuleInput, changed: tuple[str, ...]) -> QuerySet[Any]:
    """The (PC, ``YYYY-MM``) keys of CHT-002's findings the `changed` treatments count in: their PC and
    local month, within the checked months (a treatment of the current month changes no finding)."""
    first, this_month = review_months(q)
    return (
        Treatment.objects.filter(
            AnyOf(F("pk"), changed),
            tenant_id=q.tenant_id,
            performed_at__gte=start_of(first),
            performed_at__lt=start_of(this_month),
        )
        .annotate(month=YearMonth(TruncDate("performed_at")))
        .order_by()  # distinct keys, not distinct treatments (the model orders by performed_at)
        .values_list("chart__pc_id", "month")
        .distinct()
    )


@rule(
    "CHT-002",
    title="Chart review rate",
    severity=Severity.MEDIUM,
    side=Side.CLINICAL,
    citation="Practice standard (RULES.md CHT-002)",
    statement=(
        "Each month, a physician of the PC reviews at least the tenant's share (default 10%) of the "
        "charts the PC treated that month."
    ),
    thresholds=(
        Threshold(
            "min_review_percent",
            Decimal(10),
            "percent",
            "Share of the month's treated charts a physician reviews.",
            Decimal(1),
            Decimal(100),
        ),
        Threshold(
            "months_checked",
            Decimal(12),
            "months",
            "How many completed months back the rate is checked.",
            Decimal(1),
            Decimal(36),
        ),
    ),
    triggers=("clinical.Treatment", "clinical.ChartReview"),
    narrows={"clinical.Treatment": KeysOf(treated_pc_months)},
)
def months_below_chart_review_rate(q: RuleInput) -> QuerySet[Any]:
    percent = q.params["min_review_percent"]
    first, this_month = review_months(q)
    # A treated chart counts as reviewed when a physician reviewed it in the month it was treated:
    # one EXISTS per treatment row (a correlated count per PC and month was quadratic at scale).
    reviewed = (
        ChartReview.objects.filter(
            tenant_id=q.tenant_id,
            chart_id=OuterRef("chart_id"),
            reviewer__license_type__in=PHYSICIAN_LICENSES,
        )
        .annotate(month=MonthOf("reviewed_on"))
        .filter(month=OuterRef("month"))
    )
    # Completed months only: the current one is still being reviewed.
    treated = for_pcs(
        Treatment.objects.filter(
            tenant_id=q.tenant_id, performed_at__gte=start_of(first), performed_at__lt=start_of(this_month)
        ),
        q,
        "chart__pc_id",
    )
    if q.finding_keys is not None:  # a change run: the PC-months of the changed treatments alone
        pcs_by_month: dict[str, list[str]] = {}
        for pc_id, month in q.finding_keys:
            pcs_by_month.setdefault(month, []).append(pc_id)
        groups = Q(pk__in=())
        for month, pcs in pcs_by_month.items():
            start = dt.date.fromisoformat(f"{month}-01")
            groups |= Q(
                performed_at__gte=start_of(start),
                performed_at__lt=start_of(months_before(start, -1)),
                chart__pc_id__in=pcs,
            )
        treated = treated.filter(groups)
    return (
        treated.annotate(month=MonthOf(TruncDate("performed_at")))
        .alias(reviewed=Exists(reviewed))
        # Grouped by PC and month alone: the sort under the distinct counts carries nothing else, and
        # the PC's name and the month's label are computed per group (aggregates are not grouped by).
        .values("chart__pc_id", "month")
        .annotate(
            charts_treated=Count("chart_id", distinct=True),
            charts_reviewed=Count("chart_id", distinct=True, filter=Q(reviewed=True)),
            pc_name=Min("chart__pc__legal_name"),  # one name per PC: an aggregate, not a sort key
        )
        .annotate(
            shortfall=ExpressionWrapper(
                F("charts_reviewed") * Value(Decimal(100)) - F("charts_treated") * Value(percent),
                output_field=DecimalField(),
            )
        )
        .filter(shortfall__lt=0)
        .values(
            **hit(
                ProfessionalCorporation,
                object_id=F("chart__pc_id"),
                pc=F("chart__pc_id"),
                discriminator=YearMonth(Min("month")),
                evidence=JSONObject(
                    pc=F("pc_name"),
                    month=YearMonth(Min("month")),
                    charts_treated=F("charts_treated"),
                    charts_reviewed=F("charts_reviewed"),
                    min_review_percent=Value(percent),
                ),
            )
        )
    )


@rule(
    "REC-001",
    title="Record retention",
    severity=Severity.HIGH,
    side=Side.CLINICAL,  # RULES.md lists it with operations, but the charts are clinical data
    citation="H&S 123145 (7 years / age 19 floor, used as best practice)",
    statement=(
        "No chart is destroyed before 7 years after the last service, nor, for a minor, before the "
        "patient turns 19."
    ),
    thresholds=(
        Threshold(
            "retention_years",
            Decimal(7),
            "years",
            "Years a chart is kept after the last service.",
            Decimal(7),
            Decimal(30),
        ),
        Threshold(
            "minor_until_age",
            Decimal(19),
            "years of age",
            "Age until which a minor's chart is kept at least.",
            Decimal(19),
            Decimal(28),
        ),
    ),
    triggers=("clinical.PatientChart",),
)
def charts_destroyed_too_early(q: RuleInput) -> QuerySet[Any]:
    years, age = whole(q, "retention_years"), whole(q, "minor_until_age")
    last_treatment = (
        Treatment.objects.filter(tenant_id=q.tenant_id, chart_id=OuterRef("pk"))
        .values("chart_id")
        .annotate(last=Max(TruncDate("performed_at")))
        .values("last")
    )
    last_exam = (
        GoodFaithExam.objects.filter(tenant_id=q.tenant_id, chart_id=OuterRef("pk"))
        .values("chart_id")
        .annotate(last=Max("examined_on"))
        .values("last")
    )
    qs = for_pcs(PatientChart.objects.filter(tenant_id=q.tenant_id, destroyed_on__isnull=False), q, "pc_id")
    # PostgreSQL's GREATEST skips NULLs: a chart without services is kept until the age floor.
    return hits(
        qs.annotate(
            last_service=Greatest(
                Subquery(last_treatment, output_field=DateField()),
                Subquery(last_exam, output_field=DateField()),
            )
        )
        .annotate(
            keep_until=Greatest(
                AddMonths(F("last_service"), Value(12 * years)),
                AddMonths(F("date_of_birth"), Value(12 * age)),
            )
        )
        .filter(destroyed_on__lt=F("keep_until")),
        PatientChart,
        pc=F("pc_id"),
        location=F("home_location_id"),
        evidence=JSONObject(
            chart=F("medical_record_number"),
            destroyed_on=F("destroyed_on"),
            last_service=F("last_service"),
            keep_until=F("keep_until"),
            retention_years=Value(years),
            minor_until_age=Value(age),
        ),
    )
