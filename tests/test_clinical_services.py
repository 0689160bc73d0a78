"""Chart services, called directly: a valid write, each validation, other tenants' and unpermitted
references refused, business capacities refused before any SQL, the retention floor (REC-001)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from clinical import services
from clinical.models import (
    AdverseEvent,
    ChartReview,
    ConsentFormVersion,
    GoodFaithExam,
    PatientChart,
    PhotoAuthorization,
    SignedConsent,
    Treatment,
    TreatmentPhoto,
    TreatmentProduct,
)
from clinical.services.charts import UNSET
from management.models import Client, Provider
from management.procedures import LicenseType, Procedure
from tenants.access import AccessContext
from tenants.services import object_access_grant
from tests import factories as f
from tests.conftest import acting_as
from tests.worlds import World

pytestmark = pytest.mark.django_db

Act = Callable[[AccessContext], AbstractContextManager[None]]
NOW = timezone.now
TODAY = timezone.localdate


def of(world: World, model: type[Any], index: int = 0, **match: Any) -> Any:
    """The world's object of `model` in PC `index` (its chart's, treatment's … PC), matching `match`."""
    pc = world.pcs[index]
    for obj in world.objs[model]:
        owner = obj
        for hop in ("treatment", "chart", "protocol", "home_location"):
            owner = getattr(owner, hop, owner)
        if getattr(owner, "pc_id", None) == pc.pk and all(getattr(obj, k) == v for k, v in match.items()):
            return obj
    raise LookupError(model)


def md(world: World, index: int = 0) -> Provider:
    return of(world, Provider, index, license_type=LicenseType.MD)


def rn(world: World, index: int = 0) -> Provider:
    return of(world, Provider, index, license_type=LicenseType.RN)


def refused(field: str, fn: Callable[..., Any], **kwargs: Any) -> str:
    """Call the service, expect a ValidationError on `field`, return its message."""
    with pytest.raises(ValidationError) as caught:
        do(fn, **kwargs)
    assert field in caught.value.message_dict, caught.value.message_dict
    return " ".join(caught.value.message_dict[field])


def do(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """Call a service as its ctx: under the capacity's PostgreSQL role and tenant, for that call only."""
    with acting_as(kwargs["ctx"]):
        return fn(**kwargs)


@pytest.fixture
def physician(domain_a: World) -> AccessContext:
    return domain_a.ctx("pc_physician")


# --- every service refuses business capacities (before any SQL) and writes nothing ---------------


def test_business_and_read_only_capacities_are_refused_by_every_chart_service(domain_a: World) -> None:
    w = domain_a
    chart, treatment = w.charts[0], of(w, Treatment)
    calls: list[tuple[Callable[..., Any], dict[str, Any]]] = [
        (
            services.good_faith_exam_create,
            {
                "chart": chart,
                "examiner": md(w),
                "examined_on": TODAY(),
                "medical_indication": "x",
                "approved_procedures": ["neurotoxin"],
            },
        ),
        (
            services.treatment_create,
            {
                "chart": chart,
                "location": w.locations[0],
                "procedure": "neurotoxin",
                "performer": rn(w),
                "performed_at": NOW(),
            },
        ),
        (
            services.treatment_product_create,
            {"treatment": treatment, "product_name": "x", "lot_number": "1", "quantity": Decimal(1)},
        ),
        (
            services.treatment_photo_create,
            {"treatment": treatment, "kind": "before", "taken_at": NOW(), "description": "x"},
        ),
        (services.photo_authorization_create, {"chart": chart, "signed_on": TODAY(), "purpose": "x"}),
        (services.signed_consent_create, {"chart": chart, "form_version": of(w, ConsentFormVersion)}),
        (services.chart_review_create, {"chart": chart, "reviewer": md(w), "reviewed_on": TODAY()}),
        (
            services.adverse_event_create,
            {"chart": chart, "occurred_at": NOW(), "severity": "mild", "description": "x"},
        ),
        (services.patient_chart_update, {"chart": chart, "allergies": "none"}),
        (services.treatment_update, {"treatment": treatment, "notes": "x"}),
    ]
    for capacity in ("mso_admin", "mso_staff", "mso_compliance", "auditor"):
        for fn, kwargs in calls:
            # No activation at all: a business role would be refused by PostgreSQL; the service is first.
            with pytest.raises(PermissionDenied):
                fn(ctx=w.ctx(capacity), **kwargs)


# --- patient charts ---------------------------------------------------------------------------------


def test_chart_create_links_a_client_of_the_pcs_location_once(
    domain_a: World, physician: AccessContext
) -> None:
    w = domain_a
    client = f.ClientFactory.create(tenant=w.tenant, home_location=w.locations[0])
    base = {
        "ctx": physician,
        "pc": w.pcs[0],
        "home_location": w.locations[0],
        "patient_name": " Ana Ruiz ",
        "date_of_birth": dt.date(1990, 5, 1),
    }
    chart = do(services.patient_chart_create, medical_record_number="C-1", client=client, **base)
    assert (chart.client_id, chart.patient_name) == (client.pk, "Ana Ruiz")
    assert "already has a chart" in refused(
        "client", services.patient_chart_create, medical_record_number="C-2", client=client, **base
    )
    other_pc_client = of(w, Client, 1)
    assert "not one you may use" in refused(
        "client", services.patient_chart_create, medical_record_number="C-3", client=other_pc_client, **base
    )
    assert "future" in refused(
        "date_of_birth",
        services.patient_chart_create,
        **{**base, "medical_record_number": "C-4", "date_of_birth": TODAY() + dt.timedelta(days=2)},
    )
    assert PatientChart.objects.filter(tenant=w.tenant).count() == 3


def test_chart_update_edits_details_and_refuses_another_pcs_location(
    domain_a: World, physician: AccessContext
) -> None:
    w = domain_a
    chart = w.charts[0]
    do(services.patient_chart_update, ctx=physician, chart=chart, allergies=" latex ", patient_name="Dana Q")
    chart.refresh_from_db()
    assert (chart.allergies, chart.patient_name) == ("latex", "Dana Q")
    refused(
        "home_location",
        services.patient_chart_update,
        ctx=physician,
        chart=chart,
        home_location=w.locations[1],
    )
    refused(
        "medical_record_number",
        services.patient_chart_update,
        ctx=physician,
        chart=chart,
        medical_record_number=w.charts[1].medical_record_number,
    )
    # None clears the client link; UNSET leaves it
    do(services.patient_chart_update, ctx=physician, chart=chart, client=None)
    do(services.patient_chart_update, ctx=physician, chart=chart, allergies=UNSET)
    chart.refresh_from_db()
    assert (chart.client_id, chart.allergies) == (None, "latex")


def years_ago(years: int, days: int = 0) -> dt.date:
    return services.charts.add_years(TODAY(), -years) - dt.timedelta(days=days)


def test_chart_destruction_waits_for_seven_years_after_the_last_service(
    domain_a: World, physician: AccessContext
) -> None:
    w = domain_a
    chart = w.charts[0]  # treated 10 days ago in the domain world
    message = refused(
        "destroyed_on", services.patient_chart_update, ctx=physician, chart=chart, destroyed_on=TODAY()
    )
    floor = services.charts.add_years(timezone.localdate(of(w, Treatment).performed_at), 7)
    assert f"keep this chart until {floor:%Y-%m-%d}" in message and "REC-001" in message
    # A chart whose services are all older than seven years may be destroyed, by a physician only.
    Treatment.objects.filter(chart=chart).update(performed_at=NOW() - dt.timedelta(days=365 * 8))
    GoodFaithExam.objects.filter(chart=chart).update(examined_on=years_ago(8), valid_until=years_ago(7))
    clinician = w.ctx("clinician")
    assert "physician" in refused(
        "destroyed_on", services.patient_chart_update, ctx=clinician, chart=chart, destroyed_on=TODAY()
    )
    do(services.patient_chart_update, ctx=physician, chart=chart, destroyed_on=TODAY())
    chart.refresh_from_db()
    assert chart.destroyed_on == TODAY()
    # nothing changes or is added afterwards
    assert "destroyed" in refused(
        "destroyed_on", services.patient_chart_update, ctx=physician, chart=chart, allergies="x"
    )
    assert "destroyed" in refused(
        "chart",
        services.photo_authorization_create,
        ctx=physician,
        chart=chart,
        signed_on=TODAY(),
        purpose="x",
    )


def test_minors_charts_are_kept_until_nineteen_when_that_is_later(
    domain_a: World, physician: AccessContext
) -> None:
    w = domain_a
    born = years_ago(10)
    chart = f.PatientChartFactory.create(
        tenant=w.tenant, pc=w.pcs[0], home_location=w.locations[0], date_of_birth=born
    )
    f.TreatmentFactory.create(
        tenant=w.tenant, chart=chart, performer=rn(w), performed_at=NOW() - dt.timedelta(days=365 * 8)
    )
    floor, reason = services.retention_floor(chart)
    assert floor == services.charts.add_years(born, 19) and "19th birthday" in reason
    refused("destroyed_on", services.patient_chart_update, ctx=physician, chart=chart, destroyed_on=TODAY())
    assert PatientChart.objects.get(pk=chart.pk).destroyed_on is None


# --- good-faith exams -------------------------------------------------------------------------------


def exam_kwargs(w: World, **extra: Any) -> dict[str, Any]:
    return {
        "chart": w.charts[0],
        "examiner": md(w),
        "examined_on": TODAY(),
        "medical_indication": " Glabellar lines ",
        "approved_procedures": ["neurotoxin", "neurotoxin"],
        **extra,
    }


def test_exam_by_a_physician_np_or_pa_defaults_to_twelve_months(
    domain_a: World, physician: AccessContext
) -> None:
    w = domain_a
    exam = do(services.good_faith_exam_create, ctx=physician, **exam_kwargs(w))
    assert exam.valid_until == TODAY() + dt.timedelta(days=365)
    assert (exam.approved_procedures, exam.medical_indication) == (["neurotoxin"], "Glabellar lines")
    for license_type in (LicenseType.NP, LicenseType.PA, LicenseType.DO):
        examiner = f.ProviderFactory.create(tenant=w.tenant, pc=w.pcs[0], license_type=license_type)
        assert do(services.good_faith_exam_create, ctx=physician, **exam_kwargs(w, examiner=examiner)).pk


def test_exam_validations(domain_a: World, physician: AccessContext) -> None:
    w = domain_a
    create = services.good_faith_exam_create
    before = GoodFaithExam.objects.count()
    assert "Registered nurse" in refused("examiner", create, ctx=physician, **exam_kwargs(w, examiner=rn(w)))
    assert refused("chart", create, ctx=physician, **exam_kwargs(w, chart=w.charts[1]))  # not granted
    # A provider of the other PC: unknown while not granted, then refused as another PC's.
    assert "not one you may use" in refused(
        "examiner", create, ctx=physician, **exam_kwargs(w, examiner=md(w, 1))
    )
    object_access_grant(
        membership=w.members["pc_physician"], obj=w.pcs[1], perms=["view_professionalcorporation"]
    )
    assert "another PC" in refused("examiner", create, ctx=physician, **exam_kwargs(w, examiner=md(w, 1)))
    other = f.ProviderFactory.create(tenant=w.tenant, pc=w.pcs[1], license_type=LicenseType.MD)
    assert refused("examiner", create, ctx=physician, **exam_kwargs(w, examiner=other))
    assert "B&P 2290.5" in refused(
        "telehealth_consent", create, ctx=physician, **exam_kwargs(w, via_telehealth=True)
    )
    assert refused("valid_until", create, ctx=physician, **exam_kwargs(w, valid_until=TODAY()))
    assert refused(
        "examined_on", create, ctx=physician, **exam_kwargs(w, examined_on=TODAY() + dt.timedelta(days=3))
    )
    assert refused("approved_procedures", create, ctx=physician, **exam_kwargs(w, approved_procedures=[]))
    assert refused(
        "approved_procedures", create, ctx=physician, **exam_kwargs(w, approved_procedures=["botox"])
    )
    assert refused("medical_indication", create, ctx=physician, **exam_kwargs(w, medical_indication="  "))
    assert GoodFaithExam.objects.count() == before
    telehealth = do(create, ctx=physician, **exam_kwargs(w, via_telehealth=True, telehealth_consent=True))
    assert telehealth.via_telehealth


def test_exam_update_keeps_the_rules(domain_a: World, physician: AccessContext) -> None:
    w = domain_a
    exam = of(w, GoodFaithExam)
    do(services.good_faith_exam_update, ctx=physician, exam=exam, approved_procedures=["dermal_filler"])
    refused("examiner", services.good_faith_exam_update, ctx=physician, exam=exam, examiner=rn(w))
    refused(
        "valid_until", services.good_faith_exam_update, ctx=physician, exam=exam, valid_until=exam.examined_on
    )
    exam.refresh_from_db()
    assert exam.approved_procedures == ["dermal_filler"] and exam.examiner_id == md(w).pk


def test_services_refuse_other_tenants_objects(
    domain_a: World, domain_b: World, physician: AccessContext
) -> None:
    a, b = domain_a, domain_b
    assert refused(
        "chart", services.good_faith_exam_create, ctx=physician, **exam_kwargs(a, chart=b.charts[0])
    )
    assert refused(
        "examiner", services.good_faith_exam_create, ctx=physician, **exam_kwargs(a, examiner=md(b))
    )
    assert refused(
        "form_version",
        services.signed_consent_create,
        ctx=physician,
        chart=a.charts[0],
        form_version=of(b, ConsentFormVersion),
    )
    assert refused(
        "good_faith_exam",
        services.treatment_update,
        ctx=physician,
        treatment=of(a, Treatment),
        good_faith_exam=of(b, GoodFaithExam),
    )
    assert refused(
        "authorization",
        services.treatment_photo_create,
        ctx=physician,
        treatment=of(a, Treatment),
        kind="after",
        taken_at=NOW(),
        description="x",
        authorization=of(b, PhotoAuthorization),
    )
    assert refused(
        "treatment",
        services.adverse_event_create,
        ctx=physician,
        chart=a.charts[0],
        occurred_at=NOW(),
        severity="mild",
        description="x",
        treatment=of(b, Treatment),
    )


# --- treatments, products, photos --------------------------------------------------------------------


def treatment_kwargs(w: World, **extra: Any) -> dict[str, Any]:
    return {
        "chart": w.charts[0],
        "location": w.locations[0],
        "procedure": Procedure.NEUROTOXIN,
        "performer": rn(w),
        "supervisor": md(w),
        "performed_at": NOW() - dt.timedelta(hours=3),
        "good_faith_exam": of(w, GoodFaithExam),
        "consent": of(w, SignedConsent),
        "notes": "20 units glabella",
        "products": [
            {"product_name": "Botox Cosmetic", "lot_number": " C1234 ", "quantity": "20"},
            {"product_name": "Saline", "lot_number": "S9", "quantity": Decimal("2.5"), "unit": "ml"},
        ],
        **extra,
    }


def test_treatment_with_products_and_lots_charted_now(domain_a: World, physician: AccessContext) -> None:
    w = domain_a
    treatment = do(services.treatment_create, ctx=physician, **treatment_kwargs(w))
    lots = sorted(
        TreatmentProduct.objects.filter(treatment=treatment).values_list("lot_number", "quantity", "unit")
    )
    assert lots == [("C1234", Decimal("20.00"), "units"), ("S9", Decimal("2.50"), "ml")]
    assert treatment.charted_at is not None and treatment.charted_at >= treatment.performed_at
    blank = do(services.treatment_create, ctx=physician, **treatment_kwargs(w, notes="", products=()))
    assert blank.charted_at is None  # CHT-001 counts it as uncharted until notes come
    do(services.treatment_update, ctx=physician, treatment=blank, notes="Charted later")
    blank.refresh_from_db()
    assert blank.charted_at is not None


def test_treatment_validations_write_nothing(domain_a: World, physician: AccessContext) -> None:
    w = domain_a
    create = services.treatment_create
    other_chart = f.PatientChartFactory.create(tenant=w.tenant, pc=w.pcs[0], home_location=w.locations[0])
    other_exam = f.GoodFaithExamFactory.create(tenant=w.tenant, chart=other_chart, examiner=md(w))
    other_consent = f.SignedConsentFactory.create(
        tenant=w.tenant,
        chart=other_chart,
        form_version=of(w, ConsentFormVersion),
        witnessed_by=w.user("pc_physician"),
    )
    before = (Treatment.objects.count(), TreatmentProduct.objects.count())
    assert "another chart" in refused(
        "good_faith_exam", create, ctx=physician, **treatment_kwargs(w, good_faith_exam=other_exam)
    )
    assert "another chart" in refused(
        "consent", create, ctx=physician, **treatment_kwargs(w, consent=other_consent)
    )
    assert refused("performer", create, ctx=physician, **treatment_kwargs(w, performer=rn(w, 1)))
    assert refused("supervisor", create, ctx=physician, **treatment_kwargs(w, supervisor=rn(w)))
    assert refused("location", create, ctx=physician, **treatment_kwargs(w, location=w.locations[1]))
    assert refused(
        "performed_at",
        create,
        ctx=physician,
        **treatment_kwargs(w, performed_at=NOW() + dt.timedelta(hours=2)),
    )
    assert refused(
        "charted_at", create, ctx=physician, **treatment_kwargs(w, charted_at=NOW() - dt.timedelta(days=2))
    )
    assert refused("procedure", create, ctx=physician, **treatment_kwargs(w, procedure="tattoo"))
    bad_lot = [{"product_name": "Botox", "lot_number": "  ", "quantity": "20"}]
    assert "Product 1" in refused("products", create, ctx=physician, **treatment_kwargs(w, products=bad_lot))
    bad_quantity = [{"product_name": "Botox", "lot_number": "L1", "quantity": "0"}]
    assert refused("products", create, ctx=physician, **treatment_kwargs(w, products=bad_quantity))
    assert (Treatment.objects.count(), TreatmentProduct.objects.count()) == before


def test_clinician_charts_in_the_granted_pc_only(domain_a: World) -> None:
    w = domain_a
    ctx = w.ctx("clinician")
    made = do(services.treatment_create, ctx=ctx, **treatment_kwargs(w, products=()))
    assert made.performer_id == rn(w).pk
    kwargs = treatment_kwargs(
        w,
        chart=w.charts[1],
        location=w.locations[1],
        performer=rn(w, 1),
        supervisor=None,
        good_faith_exam=None,
        consent=None,
        products=(),
    )
    refused("chart", services.treatment_create, ctx=ctx, **kwargs)


def test_product_lines_added_and_corrected(domain_a: World, physician: AccessContext) -> None:
    w = domain_a
    treatment = of(w, Treatment)
    line = do(
        services.treatment_product_create,
        ctx=physician,
        treatment=treatment,
        product_name="Restylane",
        lot_number="R-77",
        quantity=Decimal("1"),
        unit="syringe",
    )
    do(services.treatment_product_update, ctx=physician, product=line, lot_number=" R-78 ")
    line.refresh_from_db()
    assert (line.lot_number, line.unit) == ("R-78", "syringe")
    refused(
        "quantity", services.treatment_product_update, ctx=physician, product=line, quantity=Decimal("-1")
    )
    refused(
        "lot_number",
        services.treatment_product_create,
        ctx=physician,
        treatment=treatment,
        product_name="x",
        lot_number="",
        quantity=Decimal(1),
    )


def test_photos_used_outside_the_chart_need_a_valid_authorization_of_that_chart(
    domain_a: World, physician: AccessContext
) -> None:
    w = domain_a
    treatment = of(w, Treatment)
    base = {
        "ctx": physician,
        "treatment": treatment,
        "kind": "after",
        "taken_at": NOW(),
        "description": "Profile",
        "used_outside_chart": True,
    }
    create = services.treatment_photo_create
    assert "HIPAA 164.508" in refused("authorization", create, **base)
    other_chart = f.PatientChartFactory.create(tenant=w.tenant, pc=w.pcs[0], home_location=w.locations[0])
    foreign = f.PhotoAuthorizationFactory.create(tenant=w.tenant, chart=other_chart)
    assert "another chart" in refused("authorization", create, **base, authorization=foreign)
    revoked = f.PhotoAuthorizationFactory.create(tenant=w.tenant, chart=w.charts[0], revoked_on=TODAY())
    assert "revoked" in refused("authorization", create, **base, authorization=revoked)
    expired = f.PhotoAuthorizationFactory.create(
        tenant=w.tenant,
        chart=w.charts[0],
        signed_on=TODAY() - dt.timedelta(days=400),
        expires_on=TODAY() - dt.timedelta(days=1),
    )
    assert "expired" in refused("authorization", create, **base, authorization=expired)
    assert not TreatmentPhoto.objects.filter(description="Profile").exists()
    valid = of(w, PhotoAuthorization)
    photo = do(create, **base, authorization=valid)
    assert photo.authorization_id == valid.pk
    # kept in the chart only, no authorization is needed; marking it for outside use later is checked
    inside = do(create, **{**base, "used_outside_chart": False, "description": "Chart only"})
    assert "HIPAA" in refused(
        "authorization", services.treatment_photo_update, ctx=physician, photo=inside, used_outside_chart=True
    )
    # revoking the authorization: stays revoked
    do(services.photo_authorization_update, ctx=physician, authorization=revoked, purpose="Website")
    refused(
        "revoked_on",
        services.photo_authorization_update,
        ctx=physician,
        authorization=revoked,
        revoked_on=None,
    )


def test_photo_authorization_dates(domain_a: World, physician: AccessContext) -> None:
    w = domain_a
    create = services.photo_authorization_create
    refused(
        "expires_on",
        create,
        ctx=physician,
        chart=w.charts[0],
        signed_on=TODAY(),
        purpose="x",
        expires_on=TODAY(),
    )
    refused(
        "signed_on",
        create,
        ctx=physician,
        chart=w.charts[0],
        signed_on=TODAY() + dt.timedelta(days=1),
        purpose="x",
    )
    auth = do(create, ctx=physician, chart=w.charts[0], signed_on=TODAY(), purpose=" Website ")
    refused(
        "revoked_on",
        services.photo_authorization_update,
        ctx=physician,
        authorization=auth,
        revoked_on=TODAY() - dt.timedelta(days=1),
    )
    auth.refresh_from_db()  # a refused update leaves its values on the instance it was given
    do(services.photo_authorization_update, ctx=physician, authorization=auth, revoked_on=TODAY())
    auth.refresh_from_db()
    assert (auth.purpose, auth.revoked_on) == ("Website", TODAY())


# --- signed consents ---------------------------------------------------------------------------------


def test_consent_binds_to_a_current_version_of_the_charts_pc(
    domain_a: World, physician: AccessContext
) -> None:
    w = domain_a
    version = of(w, ConsentFormVersion)
    consent = do(services.signed_consent_create, ctx=physician, chart=w.charts[0], form_version=version)
    assert (consent.signer_name, consent.witnessed_by_id) == (
        w.charts[0].patient_name,
        w.user("pc_physician").pk,
    )
    guardian = do(
        services.signed_consent_create,
        ctx=physician,
        chart=w.charts[0],
        form_version=version,
        signer_name="Parent of patient",
    )
    assert guardian.signer_name == "Parent of patient"
    # another PC's form (the clinician's physician is not granted PC 1; make one visible to be sure)
    other_pc = f.ConsentFormVersionFactory.create(tenant=w.tenant, pc=w.pcs[1], number=5)
    refused(
        "form_version",
        services.signed_consent_create,
        ctx=physician,
        chart=w.charts[0],
        form_version=other_pc,
    )
    ConsentFormVersion.objects.filter(pk=version.pk).update(superseded_at=NOW())
    version.refresh_from_db()
    assert "superseded" in refused(
        "form_version", services.signed_consent_create, ctx=physician, chart=w.charts[0], form_version=version
    )
    assert "approved" in refused(
        "signed_at",
        services.signed_consent_create,
        ctx=physician,
        chart=w.charts[0],
        form_version=f.ConsentFormVersionFactory.create(tenant=w.tenant, pc=w.pcs[0], number=2),
        signed_at=NOW() - dt.timedelta(days=30),
    )
    assert SignedConsent.objects.filter(chart=w.charts[0]).count() == 3


# --- chart reviews and adverse events ---------------------------------------------------------------


def test_chart_review_by_a_physician_of_the_pc(domain_a: World, physician: AccessContext) -> None:
    w = domain_a
    review = do(
        services.chart_review_create,
        ctx=physician,
        chart=w.charts[0],
        reviewer=md(w),
        reviewed_on=TODAY(),
        findings=" ok ",
        follow_up_needed=True,
    )
    assert review.findings == "ok"
    refused(
        "reviewer",
        services.chart_review_create,
        ctx=physician,
        chart=w.charts[0],
        reviewer=rn(w),
        reviewed_on=TODAY(),
    )
    refused(
        "reviewed_on",
        services.chart_review_update,
        ctx=physician,
        review=review,
        reviewed_on=TODAY() + dt.timedelta(days=1),
    )
    do(services.chart_review_update, ctx=physician, review=review, follow_up_needed=False)
    assert ChartReview.objects.get(pk=review.pk).follow_up_needed is False


def test_adverse_event_times(domain_a: World, physician: AccessContext) -> None:
    w = domain_a
    treatment = of(w, Treatment)
    base = {"ctx": physician, "chart": w.charts[0], "severity": "moderate", "description": "Swelling"}
    refused(
        "occurred_at",
        services.adverse_event_create,
        **base,
        treatment=treatment,
        occurred_at=treatment.performed_at - dt.timedelta(days=1),
    )
    event = do(
        services.adverse_event_create, **base, treatment=treatment, occurred_at=NOW() - dt.timedelta(hours=2)
    )
    refused(
        "physician_notified_at",
        services.adverse_event_update,
        ctx=physician,
        event=event,
        physician_notified_at=NOW() - dt.timedelta(hours=5),
    )
    do(
        services.adverse_event_update,
        ctx=physician,
        event=event,
        physician_notified_at=NOW(),
        actions_taken="Ice",
        treatment=None,
    )
    event.refresh_from_db()
    assert (event.actions_taken, event.treatment_id) == ("Ice", None) and event.physician_notified_at
    refused("severity", services.adverse_event_create, **{**base, "severity": "fatal"}, occurred_at=NOW())
    assert AdverseEvent.objects.filter(chart=w.charts[0], description="Swelling").count() == 1


def test_moving_a_treatment_past_its_charting_time_charts_it_again(
    domain_a: World, physician: AccessContext
) -> None:
    w = domain_a
    treatment = of(w, Treatment)  # performed 10 days ago, charted two hours later
    later = NOW() - dt.timedelta(days=1)
    started = NOW()
    do(services.treatment_update, ctx=physician, treatment=treatment, performed_at=later)
    treatment.refresh_from_db()
    assert treatment.performed_at == later and treatment.charted_at is not None
    assert treatment.charted_at >= started  # the corrected record is charted now, never before the treatment
    # an explicit charting time before the treatment is refused
    refused(
        "charted_at",
        services.treatment_update,
        ctx=physician,
        treatment=treatment,
        charted_at=later - dt.timedelta(hours=1),
    )
