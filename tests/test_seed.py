"""The demo tenant seed: idempotent, a login for every capacity, grants that scope what people see,
every object filled with believable data, and each deliberate compliance problem really in the rows
(with everything around it clean, so the audit engine's findings are exactly the listed ones)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Max
from django.test import Client as BrowserClient
from django.urls import reverse
from django.utils import timezone

from clinical.models import (
    ConsentFormVersion,
    GoodFaithExam,
    PatientChart,
    ProcedureScopeRule,
    Protocol,
    ProtocolSupervisee,
    SignedConsent,
    Treatment,
)
from management.models import (
    AgreementDocument,
    Appointment,
    BankAccount,
    BusinessAssociateAgreement,
    Decision,
    Equipment,
    FeeBasis,
    Location,
    LocationGroupObjectPermission,
    ManagementFeeInvoice,
    ManagementServicesAgreement,
    MarketingAsset,
    MedicalWasteRegistration,
    MsaAmendment,
    MsoEntity,
    PatientPayment,
    PcCollection,
    PcGroupObjectPermission,
    ProfessionalCorporation,
    Provider,
    ReviewState,
    Shareholder,
    StaffMember,
    TrainingRecord,
    Vendor,
)
from management.procedures import LicenseType
from management.selectors.dashboard import appointment_weeks
from tenants.access import AccessContext, restrict
from tenants.capacities import CAPACITIES
from tenants.demo import (
    DELIBERATE_PROBLEMS,
    DEMO_NAME,
    DEMO_PASSWORD,
    DEMO_SLUG,
    PEOPLE,
    month_start,
    seed_demo,
)
from tenants.models import AuditLogEntry, Membership, Tenant, User
from tests.sessions import sign_in

pytestmark = pytest.mark.django_db

LA_JOLLA = "Golden Coast Med Spa La Jolla"
DEL_MAR = "Golden Coast Med Spa Del Mar"
LAGUNA = "Golden Coast Med Spa Laguna Beach"
NEWPORT = "Golden Coast Med Spa Newport Beach"
VASQUEZ_PC = "Elena Vasquez, M.D., Inc."
OKAFOR_PC = "Okafor Medical Corporation"


def _scope_to(tenant: Tenant | None) -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant.pk) if tenant else ""])


def _counts(tenant: Tenant) -> dict[str, int]:
    """Row counts of everything the seed writes, read with RLS pointed at the demo tenant."""
    _scope_to(tenant)
    counts = {
        "tenants": Tenant.objects.filter(slug=DEMO_SLUG).count(),
        "users": User.objects.filter(email__endswith="@goldencoast.example").count(),
        "memberships": Membership.objects.filter(tenant=tenant).count(),
        "location_grants": LocationGroupObjectPermission.objects.filter(tenant=tenant).count(),
        "pc_grants": PcGroupObjectPermission.objects.filter(tenant=tenant).count(),
        "audit_entries": AuditLogEntry.objects.filter(tenant=tenant).count(),
    }
    for label in ("management", "clinical"):
        for model in apps.get_app_config(label).get_models():
            counts[model._meta.label] = model._default_manager.filter(tenant=tenant).count()
    _scope_to(None)
    return counts


def _member(email: str, capacity: str) -> Membership:
    return Membership.objects.select_related("tenant", "user").get(
        tenant__slug=DEMO_SLUG, user__email=email, capacity=capacity
    )


# --- seeding itself (each test seeds its own tenant) ---------------------------------------------


def test_seeding_twice_gives_the_same_rows_and_logins() -> None:
    first = seed_demo()
    after_first = _counts(first.tenant)
    second = seed_demo()
    after_second = _counts(second.tenant)

    assert first.created is True
    assert second.created is False
    assert second.tenant.pk == first.tenant.pk
    assert after_second == after_first  # not a row more, not even an audit entry
    assert after_first["tenants"] == 1
    assert after_first["management.MsoEntity"] == 2
    assert after_first["management.ProfessionalCorporation"] == 2
    assert after_first["management.Location"] == 4
    assert after_first["clinical.PatientChart"] == 11
    assert after_first["users"] == len(PEOPLE) == 8
    assert after_first["memberships"] == 9  # eight people, one of them in two capacities
    assert after_first["audit_entries"] > 0  # the database trigger logged the seed's writes
    assert second.logins == first.logins
    assert first.tenant.name == DEMO_NAME


def test_command_prints_every_login_and_the_password() -> None:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=out)
    text = out.getvalue()
    assert "created." in text
    assert "already present" in text
    assert DEMO_PASSWORD in text
    assert f"{len(DELIBERATE_PROBLEMS)} deliberate compliance problems" in text and "CPOM-001" in text
    for person in PEOPLE:
        assert text.count(person.email) == 2
    assert Tenant.objects.filter(slug=DEMO_SLUG).count() == 1


# --- what the seed holds (one seeding for the rest of the module) --------------------------------


@pytest.fixture(scope="module")
def seeded(django_db_setup: None, django_db_blocker: Any) -> Iterator[Tenant]:
    """One demo tenant for the content tests, rolled back at the end of the module."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield seed_demo().tenant
        transaction.set_rollback(True)


@pytest.fixture
def demo(seeded: Tenant) -> Tenant:
    _scope_to(seeded)  # read as the owner, RLS pointed at the demo tenant (until the test's rollback)
    return seeded


def test_every_business_and_clinical_model_has_rows(demo: Tenant) -> None:
    counts = _counts(demo)
    empty = [label for label, n in counts.items() if "." in label and n == 0]
    assert not empty, f"the demo has no rows of {empty}"
    assert counts["management.Appointment"] > 250
    assert counts["management.PatientPayment"] > 150
    assert counts["management.ManagementFeeInvoice"] >= 12 * 2
    assert counts["management.PcCollection"] == 12 * 2


def test_three_locations_two_with_each_pc(demo: Tenant) -> None:
    by_pc = {
        pc.legal_name: Location.objects.filter(pc=pc).count() for pc in ProfessionalCorporation.objects.all()
    }
    assert by_pc == {VASQUEZ_PC: 2, OKAFOR_PC: 2}
    newport = Location.objects.get(name=NEWPORT)
    assert newport.managing_entity.legal_name == "Golden Coast OC Management LLC"


def test_every_capacity_has_a_login_that_signs_in(demo: Tenant) -> None:
    emails = set(Membership.objects.filter(tenant=demo).values_list("user__email", flat=True))
    for code in CAPACITIES:
        members = Membership.objects.filter(tenant=demo, capacity=code).select_related("user")
        assert members, f"no demo login for {code}"
        for member in members:
            assert member.user.email in emails
            user = authenticate(None, username=member.user.email, password=DEMO_PASSWORD)
            assert user is not None and user.pk == member.user.pk, f"{member.user.email} cannot sign in"
    assert authenticate(None, username="admin@goldencoast.example", password="wrong-password-0") is None


def test_the_rn_who_co_owns_the_mso_has_two_memberships(demo: Tenant) -> None:
    rosa = User.objects.get(email="rosa.delgado@goldencoast.example")
    memberships = {m.capacity: m for m in Membership.objects.filter(tenant=demo, user=rosa)}
    assert set(memberships) == {"mso_admin", "clinician"}
    assert memberships["clinician"].license_type == "RN"
    # She is also a provider of PC 2, linked to her clinician membership.
    assert Provider.objects.get(full_name="Rosa Delgado").membership == memberships["clinician"]


def test_auditor_access_expires_in_ninety_days(demo: Tenant) -> None:
    auditor = _member("auditor@goldencoast.example", "auditor")
    assert auditor.expires_at is not None
    days = (auditor.expires_at - timezone.now()) / dt.timedelta(days=1)
    assert 89.9 < days <= 90
    assert auditor.is_current()


def test_object_grants_scope_what_each_capacity_sees(
    demo: Tenant, as_ctx: Callable[[AccessContext], AbstractContextManager[None]]
) -> None:
    def sees(email: str, capacity: str, model: type[Location] | type[PatientChart]) -> set[str]:
        ctx = AccessContext.for_membership(_member(email, capacity), via="browser")
        with as_ctx(ctx):  # the capacity's PostgreSQL role and the tenant's RLS setting
            field = "patient_name" if model is PatientChart else "name"
            found = set(restrict(model._default_manager.all(), ctx).values_list(field, flat=True))
        _scope_to(demo)
        return found

    pc1_patients = {"Avery Lindqvist", "Jordan Matsuda", "Camila Ferreira", "Harper Quinn", "Mateo Rossi"}
    pc1_patients |= {"Grace Whitman"}
    pc2_patients = {"Noah Whitaker", "Leila Haddad", "Sienna Marsh", "Owen Castillo", "Maya Fischer"}

    assert sees("admin@goldencoast.example", "mso_admin", Location) == {LA_JOLLA, DEL_MAR, LAGUNA, NEWPORT}
    assert sees("staff@goldencoast.example", "mso_staff", Location) == {LA_JOLLA}
    assert sees("dr.vasquez@goldencoast.example", "pc_physician", Location) == {LA_JOLLA, DEL_MAR}
    assert sees("dr.okafor@goldencoast.example", "pc_physician", Location) == {LAGUNA, NEWPORT}
    assert sees("dr.vasquez@goldencoast.example", "pc_physician", PatientChart) == pc1_patients
    assert sees("dr.okafor@goldencoast.example", "pc_physician", PatientChart) == pc2_patients
    assert sees("nurse@goldencoast.example", "clinician", PatientChart) == pc1_patients
    # The same person sees charts as a clinician of PC 2 and none as an MSO administrator.
    assert sees("rosa.delgado@goldencoast.example", "clinician", PatientChart) == pc2_patients
    assert sees("rosa.delgado@goldencoast.example", "mso_admin", PatientChart) == set()
    assert sees("auditor@goldencoast.example", "auditor", PatientChart) == set()


def test_review_states_and_decisions_are_all_represented(demo: Tenant) -> None:
    assets = list(MarketingAsset.objects.all())
    assert {a.state for a in assets} == set(ReviewState.values)
    assert {a.decision for a in assets} == set(Decision.values)
    published = [a for a in assets if a.state == ReviewState.PUBLISHED]
    assert published and all(a.is_approved and a.published_by_id for a in published)
    testimonial = next(a for a in published if a.is_testimonial)
    assert testimonial.testimonial_disclosure
    image = testimonial.images.get()
    assert image.kind == "before_after_patient" and image.procedures_shown and image.client_id
    queue = [a.title for a in assets if a.awaiting_decision]
    assert "Laser hair removal package" in queue and "Summer glow IPL special" in queue
    approved_waiting = MarketingAsset.objects.get(title="Laguna Beach reopening")
    assert approved_waiting.is_approved and approved_waiting.state == ReviewState.SUBMITTED
    # Nobody decided on what they drafted or submitted (the database would refuse it anyway).
    for item in assets:
        if item.decided_by_id:
            assert item.decided_by_id not in (item.created_by_id, item.submitted_by_id)


def test_consent_versions_are_numbered_and_patients_sign_the_current_one(demo: Tenant) -> None:
    neurotoxin = ConsentFormVersion.objects.filter(pc__legal_name=VASQUEZ_PC, procedure="neurotoxin")
    v1, v2 = neurotoxin.get(number=1), neurotoxin.get(number=2)
    assert v1.superseded_at is not None and v2.superseded_at is None
    assert v1.body != v2.body and v2.body == v2.draft.body and v2.content_hash == v2.draft.content_hash
    for signed in SignedConsent.objects.select_related("form_version", "chart"):
        version = signed.form_version
        assert version.pc_id == signed.chart.pc_id
        assert version.approved_at <= signed.signed_at
        assert version.superseded_at is None or version.superseded_at > signed.signed_at
    for treatment in Treatment.objects.select_related("consent__form_version"):
        assert treatment.consent is not None, treatment  # CON-001 holds everywhere
        assert treatment.consent.form_version.procedure == treatment.procedure


def test_twelve_months_of_money_and_twelve_weeks_of_appointments(demo: Tenant) -> None:
    today = timezone.localdate()
    months = {month_start(today, back) for back in range(1, 13)}
    for pc in ProfessionalCorporation.objects.all():
        assert set(PcCollection.objects.filter(pc=pc).values_list("month", flat=True)) == months
        invoiced = set(ManagementFeeInvoice.objects.filter(msa__pc=pc).values_list("period_start", flat=True))
        assert months <= invoiced
    weeks = appointment_weeks(today)
    for location in Location.objects.all():
        starts = [
            timezone.localdate(s)
            for s in Appointment.objects.filter(location=location).values_list("starts_at", flat=True)
        ]
        per_week = {w: sum(1 for d in starts if w <= d < w + dt.timedelta(weeks=1)) for w in weeks}
        assert all(per_week.values()), (location.name, per_week)
    # Every completed visit with a price was paid, into its PC's patient-deposit account (but one).
    payments = PatientPayment.objects.select_related("deposited_to", "location")
    assert payments.filter(appointment__isnull=False).count() > 150
    for payment in payments.filter(appointment__isnull=False):
        assert payment.deposited_to.pc_id == payment.location.pc_id


def test_scope_table_and_agreement_documents(demo: Tenant) -> None:
    assert ProcedureScopeRule.objects.filter(state="CA").count() > 20
    documents = AgreementDocument.objects.select_related("msa", "amendment")
    assert {d.msa.title for d in documents if d.amendment is None} == set(
        ManagementServicesAgreement.objects.values_list("title", flat=True)
    )
    for document in documents:
        content = bytes(document.content)
        assert content.startswith(b"%PDF-") and content.rstrip().endswith(b"%%EOF")
        assert document.size == len(content)
        assert document.msa.pc.legal_name.encode() in content


def test_the_location_dashboards_show_the_demo(demo: Tenant) -> None:
    admin = User.objects.get(email="admin@goldencoast.example")
    browser = sign_in(BrowserClient(), admin)
    for location in Location.objects.all():
        url = reverse("location-dashboard", kwargs={"tenant_slug": DEMO_SLUG, "pk": str(location.pk)})
        response = browser.get(url)
        assert response.status_code == 200, location.name
        assert not response.context["appointments"].is_empty
        assert not response.context["collections"].is_empty and not response.context["fees"].is_empty
    _scope_to(demo)


# --- the deliberate problems, one check each ------------------------------------------------------


def today() -> dt.date:
    return timezone.localdate()


def covered_by_signed_protocol(treatment: Treatment) -> bool:
    day = timezone.localdate(treatment.performed_at)
    return ProtocolSupervisee.objects.filter(
        provider=treatment.performer,
        signed_at__isnull=False,
        protocol__supervisor_signed_at__isnull=False,
        protocol__effective_on__lte=day,
        protocol__expires_on__gte=day,
        protocol__procedures__contains=[treatment.procedure],
    ).exists()


def check_cpom_001() -> None:
    owners = {
        s.name: (s.license_type, s.shares) for s in Shareholder.objects.filter(pc__legal_name=OKAFOR_PC)
    }
    assert owners == {"Dr. James Okafor": (LicenseType.MD, 700), "Marcus Bell": (LicenseType.NONE, 300)}
    assert (
        not Shareholder.objects.filter(pc__legal_name=VASQUEZ_PC)
        .exclude(license_type=LicenseType.MD)
        .exists()
    )


def check_msa_003() -> None:
    percent = ManagementServicesAgreement.objects.get(fee_basis=FeeBasis.PERCENT_OF_COLLECTIONS)
    assert percent.title.endswith("Newport Beach") and percent.fee_rate_percent == Decimal("8.00")
    assert percent.fmv_opinion_date is None and percent.counsel_reviewed_on is None


def check_msa_004() -> None:
    missing = ManagementServicesAgreement.objects.filter(fmv_opinion_date__isnull=True)
    assert [m.title for m in missing] == ["Management Services Agreement: Newport Beach"]
    for msa in ManagementServicesAgreement.objects.exclude(pk__in=missing):  # the others are covered
        assert msa.fmv_opinion_date and (today() - msa.fmv_opinion_date).days < 730
        assert msa.fmv_low is not None and msa.fmv_high is not None and msa.fee_amount is not None
        assert msa.fmv_low <= msa.fee_amount <= msa.fmv_high


def check_msa_002() -> None:
    lacking = ManagementServicesAgreement.objects.filter(non_clinical_role_clause=False)
    assert [m.title for m in lacking] == ["Management Services Agreement: Laguna Beach"]
    for msa in ManagementServicesAgreement.objects.all():
        assert msa.dispute_resolution_clause and msa.termination_clause and msa.governing_state == "CA"
        assert msa.standards.count() == 3 and msa.services


def check_cpom_003() -> None:
    check_msa_002()  # the missing non-clinical-role clause is both rules' problem (RULES.md)


def check_fee_002() -> None:
    msa = ManagementServicesAgreement.objects.get(title="Management Services Agreement: Laguna Beach")
    assert msa.fee_basis == FeeBasis.FIXED_MONTHLY and msa.fee_amount == Decimal("30000.00")
    collections = dict(PcCollection.objects.filter(pc=msa.pc).values_list("month", "amount"))
    invoices = list(msa.invoices.all())
    assert len(invoices) == 12
    for invoice in invoices:
        assert invoice.amount == (collections[invoice.period_start] * Decimal("0.17")).quantize(
            Decimal("0.01")
        )
        assert invoice.amount != msa.fee_amount


def vasquez_invoices() -> dict[int, Decimal]:
    """{months back: amount} of the Vasquez MSA's issued and paid invoices."""
    msa = ManagementServicesAgreement.objects.get(pc__legal_name=VASQUEZ_PC)
    found = {}
    for invoice in msa.invoices.exclude(status=ManagementFeeInvoice.Status.DRAFT):
        start = invoice.period_start
        found[(today().year - start.year) * 12 + today().month - start.month] = invoice.amount
    return found


def check_fee_003() -> None:
    amounts = vasquez_invoices()
    assert sorted(amounts) == list(range(1, 13))
    assert {amounts[b] for b in range(1, 5)} == {Decimal("41500.00")}
    assert {amounts[b] for b in range(5, 13) if b != 9} == {Decimal("38000.00")}
    msa = ManagementServicesAgreement.objects.get(pc__legal_name=VASQUEZ_PC)
    assert msa.fee_amount == Decimal("38000.00")
    assert msa.amendments.exists()
    assert not msa.amendments.exclude(new_fee_basis="", new_fee_amount__isnull=True).exists()


def check_fee_001() -> None:
    assert vasquez_invoices()[9] == Decimal("43800.00")


def check_baa_001() -> None:
    without = Vendor.objects.filter(handles_phi=True).exclude(
        pk__in=BusinessAssociateAgreement.objects.values("vendor")
    )
    assert [v.name for v in without] == ["SnapBook Scheduling Inc."]


def check_fee_004() -> None:
    per_referral = Vendor.objects.exclude(fee_basis__in=[Vendor.FeeBasis.FLAT, Vendor.FeeBasis.HOURLY])
    assert [(v.name, v.fee_basis) for v in per_referral] == [("LeadSpark Media", Vendor.FeeBasis.PER_LEAD)]


CREDENTIAL_DATES = (
    "license_expires_on",
    "dea_expires_on",
    "np_furnishing_expires_on",
    "pa_practice_agreement_expires_on",
    "cures_expires_on",
)


def check_lic_002() -> None:
    soon = []
    for provider in Provider.objects.all():
        for name in CREDENTIAL_DATES:
            day = getattr(provider, name)
            if day is not None and 0 <= (day - today()).days <= 90:
                soon.append((provider.full_name, name, (day - today()).days))
    assert soon == [("Kelsey Tran", "license_expires_on", 20)]


def check_lic_003() -> None:
    lapsed = Provider.objects.filter(license_expires_on__lt=today())
    assert [p.full_name for p in lapsed] == ["Jamie Ortiz"]
    assert (today() - lapsed[0].license_expires_on).days == 12
    late = [
        a
        for a in Appointment.objects.select_related("provider", "location")
        if timezone.localdate(a.starts_at) >= a.provider.license_expires_on
    ]
    assert [(a.provider.full_name, a.location.name) for a in late] == [("Jamie Ortiz", NEWPORT)]
    assert (timezone.localdate(late[0].starts_at) - today()).days == 5
    assert late[0].status in (Appointment.Status.BOOKED, Appointment.Status.CONFIRMED)


def check_lic_001() -> None:
    check_lic_003()  # scheduled without an active license: LIC-001 states it, LIC-003 warns of it


def check_eqp_001() -> None:
    overdue = [
        e.model_name
        for e in Equipment.objects.annotate(last=Max("services__serviced_on"))
        if (today() - e.last).days > e.service_interval_days
    ]
    assert overdue == ["excel V"]


def check_wst_001() -> None:
    registered = MedicalWasteRegistration.objects.filter(expires_on__gte=today()).values("location")
    unregistered = Location.objects.filter(generates_sharps=True).exclude(pk__in=registered)
    assert [loc.name for loc in unregistered] == [NEWPORT]


def check_hip_002() -> None:
    current = TrainingRecord.objects.filter(
        kind=TrainingRecord.Kind.HIPAA, completed_on__gte=today() - dt.timedelta(days=365)
    ).values("staff_member")
    untrained = StaffMember.objects.filter(left_on__isnull=True).exclude(pk__in=current)
    assert [s.full_name for s in untrained] == ["Tyler Nguyen"]
    assert not TrainingRecord.objects.filter(staff_member__full_name="Tyler Nguyen", kind="hipaa").exists()


def check_sep_002() -> None:
    to_mso = PatientPayment.objects.filter(deposited_to__mso_entity__isnull=False).select_related("location")
    medical = [p for p in to_mso if p.kind == PatientPayment.Kind.MEDICAL_SERVICE]
    assert [(p.location.name, p.amount) for p in medical] == [(LAGUNA, Decimal("560.00"))]
    assert {p.kind for p in to_mso if p not in medical} == {PatientPayment.Kind.RETAIL_PRODUCT}
    # Every account has one owner (SEP-001 holds: the database constraint), each PC its own deposits.
    for pc in ProfessionalCorporation.objects.all():
        assert BankAccount.objects.filter(pc=pc, purpose=BankAccount.Purpose.PATIENT_DEPOSITS).count() == 1


def check_adv_001() -> None:
    stale = [
        a
        for a in MarketingAsset.objects.all()
        if a.decision == Decision.APPROVED and not a.decision_is_current
    ]
    assert [a.title for a in stale] == ["Summer glow IPL special"]
    edited = stale[0]
    assert edited.revision == 2 and edited.state == ReviewState.SUBMITTED and "painless" in edited.body


def check_adv_002() -> None:
    claims = [a.title for a in MarketingAsset.objects.all() if "painless" in a.body.lower()]
    assert claims == ["Summer glow IPL special"]


def check_gfe_001() -> None:
    without = Treatment.objects.filter(good_faith_exam__isnull=True).select_related("chart", "performer")
    assert [(t.chart.patient_name, t.performer.full_name, t.procedure) for t in without] == [
        ("Camila Ferreira", "Nina Brooks", "neurotoxin")
    ]
    assert not GoodFaithExam.objects.filter(chart=without[0].chart).exists()
    for treatment in Treatment.objects.exclude(pk=without[0].pk).select_related("good_faith_exam__examiner"):
        exam = treatment.good_faith_exam
        assert exam is not None
        day = timezone.localdate(treatment.performed_at)
        assert exam.examined_on <= day <= exam.valid_until and treatment.procedure in exam.approved_procedures
        assert exam.examiner.license_type in (LicenseType.MD, LicenseType.DO, LicenseType.NP, LicenseType.PA)


def check_del_002() -> None:
    delegated = Treatment.objects.exclude(performer__license_type__in=[LicenseType.MD, LicenseType.DO])
    uncovered = [
        t for t in delegated.select_related("chart", "performer") if not covered_by_signed_protocol(t)
    ]
    assert [(t.chart.patient_name, t.performer.full_name, t.procedure) for t in uncovered] == [
        ("Sienna Marsh", "Rosa Delgado", "laser_hair_removal")
    ]
    unsigned = Protocol.objects.get(supervisor_signed_at__isnull=True)
    assert "laser_hair_removal" in unsigned.procedures
    assert unsigned.supervisees.get().provider.full_name == "Rosa Delgado"
    # DEL-001 holds: every performer's license may do the procedure in California.
    for treatment in Treatment.objects.select_related("performer"):
        rule = ProcedureScopeRule.objects.get(
            state="CA", procedure=treatment.procedure, license_type=treatment.performer.license_type
        )
        assert rule.allowed, (treatment.procedure, treatment.performer.license_type)


def check_cht_001() -> None:
    late = [
        t
        for t in Treatment.objects.select_related("chart", "performer")
        if t.charted_at is None or t.charted_at - t.performed_at > dt.timedelta(hours=72)
    ]
    assert [(t.chart.patient_name, t.performer.full_name, t.notes) for t in late] == [
        ("Grace Whitman", "Sofia Alvarez", "")
    ]
    assert (today() - timezone.localdate(late[0].performed_at)).days == 6


CHECKS: dict[str, Callable[[], None]] = {
    "CPOM-001": check_cpom_001,
    "MSA-003": check_msa_003,
    "MSA-004": check_msa_004,
    "MSA-002": check_msa_002,
    "CPOM-003": check_cpom_003,
    "FEE-002": check_fee_002,
    "FEE-003": check_fee_003,
    "FEE-001": check_fee_001,
    "BAA-001": check_baa_001,
    "FEE-004": check_fee_004,
    "LIC-002": check_lic_002,
    "LIC-003": check_lic_003,
    "LIC-001": check_lic_001,
    "EQP-001": check_eqp_001,
    "WST-001": check_wst_001,
    "HIP-002": check_hip_002,
    "SEP-002": check_sep_002,
    "ADV-001": check_adv_001,
    "ADV-002": check_adv_002,
    "GFE-001": check_gfe_001,
    "DEL-002": check_del_002,
    "CHT-001": check_cht_001,
}


def test_every_listed_problem_has_a_check() -> None:
    assert [p.rule for p in DELIBERATE_PROBLEMS] == list(CHECKS)


@pytest.mark.parametrize("rule", list(CHECKS))
def test_deliberate_problem_is_in_the_rows_and_only_there(demo: Tenant, rule: str) -> None:
    CHECKS[rule]()


def test_msa_amendments_and_the_documents_line_up(demo: Tenant) -> None:
    for amendment in MsaAmendment.objects.all():
        assert amendment.signed_on is not None and amendment.signed_on <= amendment.effective_date
    assert MsoEntity.objects.count() == 2
