"""The clinical-side compliance rules (compliance/rules/clinical.py): each planted violation is seen,
exactly, and its compliant twin is not; the demo seed's planted rows are found; and PostgreSQL
refuses a clinical rule's SQL to the business role.

Every test starts from ``clinic``: the ``domain_a`` world with California's scope table and the few
dates the world leaves loose put in order, so that no clinical rule has a hit (checked first).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Any

import pytest
from django.db import ProgrammingError, connection, transaction
from django.db.models import Model
from django.utils import timezone

import compliance.rules.clinical  # noqa: F401 - registers the clinical rules
from clinical.models import (
    ChartReview,
    ConsentFormVersion,
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
from clinical.services import scope_rules_seed
from compliance.registry import REGISTRY, RuleInput
from management.models import Provider
from management.procedures import LicenseStatus, LicenseType, Procedure
from tenants.access import AccessContext
from tenants.capacities import Side
from tests import factories as f
from tests.worlds import World

pytestmark = pytest.mark.django_db

ActAs = Callable[[AccessContext], AbstractContextManager[None]]
CLINICAL_RULES = sorted(r.id for r in REGISTRY.rules.values() if r.side == Side.CLINICAL)
L = LicenseType
P = Procedure


def today() -> dt.date:
    return timezone.localdate()


def run(
    rule_id: str,
    tenant: Any,
    *,
    on: dt.date | None = None,
    pc_ids: Any = None,
    object_ids: Any = None,
    **params: int,
) -> list[dict[str, Any]]:
    rule = REGISTRY.get(rule_id)
    values = rule.defaults() | {name: Decimal(value) for name, value in params.items()}
    given = RuleInput(
        tenant_id=tenant.pk, today=on or today(), params=values, pc_ids=pc_ids, object_ids=object_ids
    )
    return list(rule.query(given))


def hits(rule_id: str, world: World, **kwargs: Any) -> set[tuple[str, Any]]:
    return {(h["object_type"], h["object_id"]) for h in run(rule_id, world.tenant, **kwargs)}


def about(*objs: Model) -> set[tuple[str, Any]]:
    return {(type(o)._meta.label, o.pk) for o in objs}


def update(obj: Model, **values: Any) -> None:
    type(obj)._default_manager.filter(pk=obj.pk).update(**values)
    obj.refresh_from_db()


def month_start(day: dt.date, back: int) -> dt.date:
    year, index = divmod(day.year * 12 + day.month - 1 - back, 12)
    return dt.date(year, index + 1, 1)


def years_after(day: dt.date, years: int) -> dt.date:
    """The same day `years` later; 29 February becomes the 28th, as PostgreSQL's interval does."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


@pytest.fixture
def clinic(domain_a: World) -> World:
    """domain_a, compliant with every clinical rule: CA scope table, signatures before the treatment."""
    w, now = domain_a, timezone.now()
    scope_rules_seed(tenant=w.tenant, state="CA")
    ProtocolSupervisee.objects.filter(tenant=w.tenant).update(signed_at=now - dt.timedelta(days=99))
    ConsentFormVersion.objects.filter(tenant=w.tenant).update(approved_at=now - dt.timedelta(days=200))
    for treatment in w.objs[Treatment]:
        SignedConsent.objects.filter(pk=treatment.consent_id).update(
            signed_at=treatment.performed_at - dt.timedelta(minutes=20)
        )
        # CHT-002 reads the month: review each chart in the month of its treatment.
        ChartReview.objects.filter(chart_id=treatment.chart_id).update(
            reviewed_on=timezone.localdate(treatment.performed_at)
        )
    return w


def treatment(w: World, index: int = 0) -> Treatment:
    return Treatment.objects.get(pk=w.objs[Treatment][index].pk)


def provider(w: World, license_type: str, index: int = 0) -> Provider:
    """The world's MD or RN of PC `index`."""
    return next(p for p in w.objs[Provider] if p.license_type == license_type and p.pc_id == w.pcs[index].pk)


def new_provider(w: World, license_type: str, index: int = 0, **fields: Any) -> Provider:
    return f.ProviderFactory.create(tenant=w.tenant, pc=w.pcs[index], license_type=license_type, **fields)


def protocol_for(
    w: World,
    supervisees: list[Provider],
    *,
    kind: str = Protocol.Kind.STANDARDIZED_PROCEDURE,
    procedures: list[str] | None = None,
    index: int = 0,
    **fields: Any,
) -> Protocol:
    """A protocol in force (signed by its supervisor and every supervisee 99 days ago)."""
    signed = timezone.now() - dt.timedelta(days=99)
    protocol = f.ProtocolFactory.create(
        tenant=w.tenant,
        pc=w.pcs[index],
        kind=kind,
        supervisor=provider(w, L.MD, index),
        procedures=procedures or [P.NEUROTOXIN, P.DERMAL_FILLER],
        supervisor_signed_at=signed,
        **fields,
    )
    for person in supervisees:
        f.ProtocolSuperviseeFactory.create(
            tenant=w.tenant, protocol=protocol, provider=person, signed_at=signed
        )
    return protocol


# --- the starting point ----------------------------------------------------------------------------


def test_every_clinical_rule_is_registered_as_clinical() -> None:
    assert CLINICAL_RULES == [
        "CHT-001",
        "CHT-002",
        "CON-001",
        "CON-002",
        "DEL-001",
        "DEL-002",
        "DEL-003",
        "DEL-004",
        "GFE-001",
        "PRT-001",
        "REC-001",
    ]
    for rule_id in CLINICAL_RULES:
        rule = REGISTRY.get(rule_id)
        assert rule.citation and rule.statement and rule.triggers and rule.scoped_by_pc
        for threshold in rule.thresholds:
            assert threshold.minimum <= threshold.default <= threshold.maximum


@pytest.mark.parametrize("rule_id", CLINICAL_RULES)
def test_the_compliant_world_has_no_hit(clinic: World, rule_id: str) -> None:
    assert run(rule_id, clinic.tenant) == []


# --- GFE-001 good-faith exam ------------------------------------------------------------------------


def test_gfe_exam_by_an_rn_does_not_count(clinic: World) -> None:
    exam = clinic.objs[GoodFaithExam][0]
    update(exam, examiner=provider(clinic, L.RN))
    [found] = run("GFE-001", clinic.tenant)
    t = treatment(clinic)
    assert (found["object_type"], found["object_id"]) == ("clinical.Treatment", t.pk)
    assert found["pc_id"] == clinic.pcs[0].pk and found["location_id"] == clinic.locations[0].pk
    assert found["evidence"]["latest_examiner_license"] == "RN"
    assert found["evidence"]["latest_exam_on"] == exam.examined_on.isoformat()
    assert found["evidence"]["chart"] == clinic.charts[0].medical_record_number


def test_gfe_exam_by_an_np_counts(clinic: World) -> None:
    update(clinic.objs[GoodFaithExam][0], examiner=new_provider(clinic, L.NP))
    assert hits("GFE-001", clinic) == set()


def test_gfe_telehealth_exam_needs_documented_consent(clinic: World) -> None:
    exam = clinic.objs[GoodFaithExam][1]
    update(exam, via_telehealth=True, telehealth_consent=False)
    assert hits("GFE-001", clinic) == about(treatment(clinic, 1))
    update(exam, telehealth_consent=True)
    assert hits("GFE-001", clinic) == set()


def test_gfe_exam_after_the_treatment_or_not_approving_it_does_not_count(clinic: World) -> None:
    t = treatment(clinic)
    exam = clinic.objs[GoodFaithExam][0]
    update(exam, examined_on=timezone.localdate(t.performed_at) + dt.timedelta(days=1))
    assert hits("GFE-001", clinic) == about(t)
    update(exam, examined_on=today() - dt.timedelta(days=20), approved_procedures=[P.DERMAL_FILLER])
    assert hits("GFE-001", clinic) == about(t)
    update(exam, medical_indication=" ", approved_procedures=[P.NEUROTOXIN])
    assert hits("GFE-001", clinic) == about(t)


def test_gfe_validity_window_is_the_tenants_threshold(clinic: World) -> None:
    t = treatment(clinic)
    day = timezone.localdate(t.performed_at)
    # 13 months before the treatment; the exam's own expiry would still cover it.
    update(clinic.objs[GoodFaithExam][0], examined_on=month_start(day, 13), valid_until=day)
    assert hits("GFE-001", clinic) == about(t)
    assert hits("GFE-001", clinic, validity_months=24) == set()


@pytest.mark.parametrize("hour", [0, 23])
def test_gfe_window_ends_are_local_days_in_a_whole_run_and_a_narrowed_one(clinic: World, hour: int) -> None:
    """A whole run compares the instants the window's days begin; a narrowed run the local dates: the
    same answer at each end of the window, for a treatment just after local midnight or just before
    the next one (another UTC date than its local one)."""
    t = treatment(clinic)
    day = today() - dt.timedelta(days=40)
    if (day.month, day.day) == (2, 29):  # a year before it has no 29 February: not an end of the window
        day -= dt.timedelta(days=1)
    update(t, performed_at=timezone.make_aware(dt.datetime.combine(day, dt.time(hour, 30))))
    exam = clinic.objs[GoodFaithExam][0]
    cases = [
        (day, day + dt.timedelta(days=300), set()),  # examined that day: covered
        (day - dt.timedelta(days=30), day, set()),  # valid through that day: covered
        (day + dt.timedelta(days=1), day + dt.timedelta(days=300), about(t)),  # examined the day after
        (day - dt.timedelta(days=30), day - dt.timedelta(days=1), about(t)),  # expired the day before
        (years_after(day, -1), day + dt.timedelta(days=300), set()),  # 12 months before: the last day
        (years_after(day, -1) - dt.timedelta(days=1), day + dt.timedelta(days=300), about(t)),
    ]
    for examined_on, valid_until, expected in cases:
        update(exam, examined_on=examined_on, valid_until=valid_until)
        assert hits("GFE-001", clinic) == expected, (examined_on, valid_until)
        assert hits("GFE-001", clinic, object_ids=(str(t.pk),)) == expected, (examined_on, valid_until)


def test_gfe_no_exam_on_the_chart_and_a_facial_needs_none(clinic: World) -> None:
    chart = f.PatientChartFactory.create(
        tenant=clinic.tenant, pc=clinic.pcs[0], home_location=clinic.locations[0]
    )
    injected = f.TreatmentFactory.create(
        tenant=clinic.tenant, chart=chart, performer=provider(clinic, L.MD), procedure=P.DERMAL_FILLER
    )
    f.TreatmentFactory.create(
        tenant=clinic.tenant, chart=chart, performer=provider(clinic, L.RN), procedure=P.FACIAL
    )
    assert hits("GFE-001", clinic) == about(injected)


def test_gfe_honours_pc_ids(clinic: World) -> None:
    update(clinic.objs[GoodFaithExam][0], examiner=provider(clinic, L.RN))
    assert hits("GFE-001", clinic, pc_ids=(clinic.pcs[1].pk,)) == set()
    assert hits("GFE-001", clinic, pc_ids=(clinic.pcs[0].pk,)) == about(treatment(clinic))


def test_rules_read_only_their_tenant(clinic: World, domain_b: World) -> None:
    """Tests run as the owner (no RLS): the queries themselves keep to the tenant asked about."""
    GoodFaithExam.objects.filter(tenant=domain_b.tenant).update(approved_procedures=[P.FACIAL])
    Treatment.objects.filter(tenant=domain_b.tenant).update(notes="")
    assert len(run("GFE-001", domain_b.tenant)) == 2
    assert len(run("CHT-001", domain_b.tenant)) == 2
    for rule_id in CLINICAL_RULES:
        assert run(rule_id, clinic.tenant) == [], rule_id


def test_object_narrowed_runs_report_exactly_those_objects_hits(clinic: World) -> None:
    """A rule that narrows change runs by object (Rule.narrows) honours RuleInput.object_ids."""
    t0, t1 = treatment(clinic, 0), treatment(clinic, 1)
    update(t0, notes="")  # CHT-001
    update(t1, performer=new_provider(clinic, L.LVN, 1))  # DEL-001 (and the rules on delegation)
    update(clinic.objs[GoodFaithExam][0], examiner=provider(clinic, L.RN))  # GFE-001 on t0
    narrowing = sorted(r.id for r in REGISTRY.rules.values() if r.side == Side.CLINICAL and r.narrows)
    assert {"CHT-001", "CON-001", "DEL-001", "DEL-002", "DEL-003", "GFE-001"} <= set(narrowing)
    planted = 0
    for rule_id in narrowing:
        everything = run(rule_id, clinic.tenant)
        assert run(rule_id, clinic.tenant, object_ids=()) == [], rule_id
        for t in (t0, t1):
            mine = [h for h in everything if h["object_id"] == t.pk]
            planted += len(mine)
            assert run(rule_id, clinic.tenant, object_ids=(t.pk,)) == mine, rule_id
    assert planted >= 3


# --- DEL-002 protocol in force ----------------------------------------------------------------------


def test_del002_unsigned_by_the_performer(clinic: World) -> None:
    supervisee = ProtocolSupervisee.objects.get(protocol=clinic.objs[Protocol][0])
    update(supervisee, signed_at=None)
    [found] = run("DEL-002", clinic.tenant)
    assert found["object_id"] == treatment(clinic).pk
    [candidate] = found["evidence"]["protocols_naming_performer"]
    assert candidate["title"] == clinic.objs[Protocol][0].title and candidate["performer_signed_at"] is None


def test_del002_signed_only_after_the_treatment(clinic: World) -> None:
    protocol = clinic.objs[Protocol][1]
    update(protocol, supervisor_signed_at=timezone.now())
    assert hits("DEL-002", clinic) == about(treatment(clinic, 1))
    update(protocol, supervisor_signed_at=None)
    assert hits("DEL-002", clinic) == about(treatment(clinic, 1))


def test_del002_protocol_expired_or_not_yet_effective_or_without_the_procedure(clinic: World) -> None:
    protocol, t = clinic.objs[Protocol][0], treatment(clinic)
    day = timezone.localdate(t.performed_at)
    update(protocol, effective_on=day - dt.timedelta(days=400), expires_on=day - dt.timedelta(days=1))
    assert hits("DEL-002", clinic) == about(t)
    update(protocol, effective_on=day + dt.timedelta(days=1), expires_on=day + dt.timedelta(days=300))
    assert hits("DEL-002", clinic) == about(t)
    update(protocol, effective_on=day, expires_on=day + dt.timedelta(days=300))
    assert hits("DEL-002", clinic) == set()  # in force from its first day
    update(protocol, procedures=[P.DERMAL_FILLER])
    assert hits("DEL-002", clinic) == about(t)


@pytest.mark.parametrize("hour", [0, 23])
def test_del002_term_ends_are_local_days_near_midnight(clinic: World, hour: int) -> None:
    protocol, t = clinic.objs[Protocol][0], treatment(clinic)
    day = today() - dt.timedelta(days=40)
    update(t, performed_at=timezone.make_aware(dt.datetime.combine(day, dt.time(hour, 30))))
    cases = [
        (day, day + dt.timedelta(days=300), set()),  # in force from its first day
        (day - dt.timedelta(days=300), day, set()),  # and through its last
        (day + dt.timedelta(days=1), day + dt.timedelta(days=300), about(t)),
        (day - dt.timedelta(days=300), day - dt.timedelta(days=1), about(t)),
    ]
    for effective_on, expires_on, expected in cases:
        update(protocol, effective_on=effective_on, expires_on=expires_on)
        assert hits("DEL-002", clinic) == expected, (effective_on, expires_on)
        assert hits("DEL-002", clinic, object_ids=(str(t.pk),)) == expected, (effective_on, expires_on)


def test_del002_protocol_of_another_pc_does_not_cover(clinic: World) -> None:
    update(clinic.objs[Protocol][0], pc=clinic.pcs[1])
    assert hits("DEL-002", clinic) == about(treatment(clinic))


def test_del002_np_needs_a_protocol_unless_103_104(clinic: World) -> None:
    np = new_provider(clinic, L.NP)
    done = f.TreatmentFactory.create(tenant=clinic.tenant, chart=clinic.charts[0], performer=np)
    assert hits("DEL-002", clinic) == about(done)
    update(np, np_independent_103_104=True)
    assert hits("DEL-002", clinic) == set()


def test_del002_physicians_and_non_medical_procedures_need_no_protocol(clinic: World) -> None:
    f.TreatmentFactory.create(tenant=clinic.tenant, chart=clinic.charts[0], performer=provider(clinic, L.MD))
    f.TreatmentFactory.create(
        tenant=clinic.tenant, chart=clinic.charts[0], performer=provider(clinic, L.RN), procedure=P.FACIAL
    )
    assert hits("DEL-002", clinic) == set()


def test_del002_pa_covered_by_a_practice_agreement(clinic: World) -> None:
    pa = new_provider(clinic, L.PA)
    done = f.TreatmentFactory.create(tenant=clinic.tenant, chart=clinic.charts[0], performer=pa)
    assert hits("DEL-002", clinic) == about(done)
    protocol_for(clinic, [pa], kind=Protocol.Kind.PRACTICE_AGREEMENT)
    assert hits("DEL-002", clinic) == set()


# --- CHT-001 chart completed -----------------------------------------------------------------------


def test_cht001_no_notes(clinic: World) -> None:
    t = treatment(clinic)
    update(t, notes="  ")
    [found] = run("CHT-001", clinic.tenant)
    assert found["object_id"] == t.pk
    assert found["evidence"]["notes_recorded"] is False
    assert found["evidence"]["charted_in_time"] is True
    assert found["evidence"]["product_and_lot_recorded"] is True


def test_cht001_charted_late_or_never(clinic: World) -> None:
    t = treatment(clinic, 1)
    update(t, charted_at=t.performed_at + dt.timedelta(hours=73))
    assert hits("CHT-001", clinic) == about(t)
    assert hits("CHT-001", clinic, charting_hours=96) == set()
    update(t, charted_at=None)
    assert hits("CHT-001", clinic) == about(t)


def test_cht001_not_judged_before_the_deadline(clinic: World) -> None:
    t = treatment(clinic)
    update(t, performed_at=timezone.now() - dt.timedelta(hours=2), charted_at=None, notes="")
    assert hits("CHT-001", clinic) == set()
    assert hits("CHT-001", clinic, on=today() + dt.timedelta(days=4)) == about(t)


def test_cht001_injection_needs_product_and_lot(clinic: World) -> None:
    t = treatment(clinic)
    product = TreatmentProduct.objects.get(treatment=t)
    update(product, lot_number="")
    assert hits("CHT-001", clinic) == about(t)
    product.delete()
    assert hits("CHT-001", clinic) == about(t)


def test_cht001_laser_needs_no_product(clinic: World) -> None:
    f.TreatmentFactory.create(
        tenant=clinic.tenant,
        chart=clinic.charts[0],
        performer=provider(clinic, L.MD),
        procedure=P.LASER_HAIR_REMOVAL,
    )
    assert hits("CHT-001", clinic) == set()


# --- DEL-001 performer licensed for the procedure ----------------------------------------------------


def test_del001_lvn_injection_is_a_tenant_setting_defaulting_to_no(clinic: World) -> None:
    lvn = new_provider(clinic, L.LVN)
    done = f.TreatmentFactory.create(tenant=clinic.tenant, chart=clinic.charts[0], performer=lvn)
    [found] = run("DEL-001", clinic.tenant)
    assert found["object_id"] == done.pk
    assert found["evidence"]["scope_rule_allowed"] is False
    assert "B&P 2860.5" in found["evidence"]["scope_rule_citation"]
    ProcedureScopeRule.objects.filter(
        tenant=clinic.tenant, state="CA", procedure=P.NEUROTOXIN, license_type=L.LVN
    ).update(allowed=True)
    assert hits("DEL-001", clinic) == set()


def test_del001_esthetician_injection_and_facial(clinic: World) -> None:
    esthetician = new_provider(clinic, L.ESTHETICIAN)
    injected = f.TreatmentFactory.create(tenant=clinic.tenant, chart=clinic.charts[0], performer=esthetician)
    f.TreatmentFactory.create(
        tenant=clinic.tenant, chart=clinic.charts[0], performer=esthetician, procedure=P.FACIAL
    )
    assert hits("DEL-001", clinic) == about(injected)


def test_del001_license_of_another_state_or_a_state_without_a_table(clinic: World) -> None:
    t = treatment(clinic)
    update(provider(clinic, L.RN), license_state="NV")
    assert hits("DEL-001", clinic) == about(t)
    update(provider(clinic, L.RN), license_state="CA")
    update(clinic.locations[0], state="NV")
    [found] = run("DEL-001", clinic.tenant)
    assert found["object_id"] == t.pk and found["evidence"]["scope_rule_allowed"] is None


# --- DEL-003 supervisor qualified and licensed -------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"license_status": LicenseStatus.PROBATION},
        {"license_status": LicenseStatus.REVOKED},
        {"license_state": "NV"},
        {"license_type": L.NP},
    ],
    ids=["probation", "revoked", "other-state", "not-a-physician"],
)
def test_del003_supervisor_not_qualified(clinic: World, change: dict[str, Any]) -> None:
    md = provider(clinic, L.MD)
    update(md, **change)
    [found] = run("DEL-003", clinic.tenant)
    assert found["object_id"] == treatment(clinic).pk
    assert found["evidence"]["supervisor"] == md.full_name
    assert found["evidence"]["supervisor_license_status"] == md.license_status


def test_del003_license_expired_before_the_treatment_date(clinic: World) -> None:
    t = treatment(clinic, 1)
    md = provider(clinic, L.MD, 1)
    update(md, license_expires_on=timezone.localdate(t.performed_at) - dt.timedelta(days=1))
    [found] = run("DEL-003", clinic.tenant)
    assert found["object_id"] == t.pk
    assert found["evidence"]["supervisor_license_expires_on"] == md.license_expires_on.isoformat()
    update(md, license_expires_on=timezone.localdate(t.performed_at))
    assert hits("DEL-003", clinic) == set()


def test_del003_delegated_treatment_without_a_supervisor(clinic: World) -> None:
    t = treatment(clinic)
    update(t, supervisor=None)
    assert hits("DEL-003", clinic) == about(t)
    update(t, performer=provider(clinic, L.MD))  # a physician treating alone needs no supervisor
    assert hits("DEL-003", clinic) == set()


# --- DEL-004 supervision limits ---------------------------------------------------------------------


def test_del004_a_fifth_pa(clinic: World) -> None:
    md = provider(clinic, L.MD)
    pas = [new_provider(clinic, L.PA) for _ in range(5)]
    for pa in pas[:4]:
        protocol_for(clinic, [pa], kind=Protocol.Kind.PRACTICE_AGREEMENT)
    assert hits("DEL-004", clinic) == about(pas[4])  # four are fine; the fifth has no agreement yet
    assert hits("DEL-004", clinic, max_pas=3) == about(md, pas[4])  # a tenant may set a lower limit
    protocol_for(clinic, [pas[4]], kind=Protocol.Kind.PRACTICE_AGREEMENT)
    [found] = run("DEL-004", clinic.tenant)
    assert (found["object_type"], found["object_id"]) == ("management.Provider", md.pk)
    assert found["pc_id"] == clinic.pcs[0].pk
    assert found["evidence"]["supervised_pas"] == 5 and found["evidence"]["max_pas"] == 4
    assert sorted(found["evidence"]["supervised_pa_names"]) == sorted(pa.full_name for pa in pas)
    update(pas[0], active=False)  # a PA who left no longer counts
    assert hits("DEL-004", clinic) == set()


def test_del004_furnishing_nps_not_103_104(clinic: World) -> None:
    md = provider(clinic, L.MD)
    nps = [new_provider(clinic, L.NP, np_furnishing_number=f"9{n}") for n in range(5)]
    protocol_for(clinic, nps)
    assert hits("DEL-004", clinic) == about(md)
    update(nps[0], np_independent_103_104=True)
    assert hits("DEL-004", clinic) == set()
    update(nps[0], np_independent_103_104=False, np_furnishing_number="")  # not furnishing
    assert hits("DEL-004", clinic) == set()


def test_del004_only_protocols_in_force_count(clinic: World) -> None:
    nps = [new_provider(clinic, L.NP, np_furnishing_number=f"8{n}") for n in range(5)]
    protocol_for(clinic, nps[:4])
    expired = protocol_for(clinic, nps[4:])
    update(expired, effective_on=today() - dt.timedelta(days=400), expires_on=today() - dt.timedelta(days=1))
    assert hits("DEL-004", clinic) == set()
    update(expired, expires_on=today())
    assert hits("DEL-004", clinic) == about(provider(clinic, L.MD))


def test_del004_pa_practice_agreement(clinic: World) -> None:
    pa = new_provider(clinic, L.PA, index=1)
    [found] = run("DEL-004", clinic.tenant)
    assert found["object_id"] == pa.pk and found["pc_id"] == clinic.pcs[1].pk
    assert found["evidence"]["practice_agreement_in_force"] is False
    # A standardized procedure is not a practice agreement.
    protocol_for(clinic, [pa], index=1)
    assert hits("DEL-004", clinic) == about(pa)
    protocol_for(clinic, [pa], kind=Protocol.Kind.PRACTICE_AGREEMENT, index=1)
    assert hits("DEL-004", clinic) == set()
    assert hits("DEL-004", clinic, pc_ids=(clinic.pcs[0].pk,)) == set()


# --- PRT-001 laser protocol content ------------------------------------------------------------------


def laser_protocol(w: World, **fields: Any) -> Protocol:
    flags = {
        "covers_patient_selection": True,
        "covers_education_and_consent": True,
        "covers_topical_agents": True,
        "covers_complications": True,
        "covers_supervision_and_training": True,
    }
    return protocol_for(
        w,
        [provider(w, L.RN)],
        kind=Protocol.Kind.LASER_PROTOCOL,
        procedures=[P.LASER_HAIR_REMOVAL, P.IPL_PHOTOFACIAL],
        **(flags | fields),
    )


def test_prt001_missing_content(clinic: World) -> None:
    protocol = laser_protocol(clinic, covers_topical_agents=False, covers_complications=False)
    [found] = run("PRT-001", clinic.tenant)
    assert found["object_type"] == "clinical.Protocol" and found["object_id"] == protocol.pk
    assert found["evidence"]["missing_content"] == ["topical agents", "complications and emergencies"]
    update(protocol, covers_topical_agents=True, covers_complications=True)
    assert hits("PRT-001", clinic) == set()


def test_prt001_review_interval(clinic: World) -> None:
    protocol = laser_protocol(clinic, reviewed_on=month_start(today(), 14))
    assert hits("PRT-001", clinic) == about(protocol)
    assert hits("PRT-001", clinic, review_interval_months=24) == set()
    update(protocol, reviewed_on=today() - dt.timedelta(days=30))
    assert hits("PRT-001", clinic) == set()


def test_prt001_an_unsigned_draft_or_an_injection_protocol_is_not_judged(clinic: World) -> None:
    draft = laser_protocol(clinic, covers_topical_agents=False)
    update(draft, supervisor_signed_at=None)
    update(clinic.objs[Protocol][0], covers_topical_agents=False)  # a standardized procedure for injections
    assert hits("PRT-001", clinic) == set()


# --- CON-001 consent signed -------------------------------------------------------------------------


def test_con001_no_consent_for_the_procedure(clinic: World) -> None:
    filler = f.TreatmentFactory.create(
        tenant=clinic.tenant,
        chart=clinic.charts[0],
        performer=provider(clinic, L.MD),
        procedure=P.DERMAL_FILLER,
    )
    [found] = run("CON-001", clinic.tenant)
    assert found["object_id"] == filler.pk and found["evidence"]["consent_signed_at"] is None


def test_con001_version_superseded_before_signing(clinic: World) -> None:
    t = treatment(clinic)
    consent = SignedConsent.objects.get(treatments=t)
    version = ConsentFormVersion.objects.get(pk=consent.form_version_id)
    update(version, superseded_at=consent.signed_at - dt.timedelta(days=1))
    assert hits("CON-001", clinic) == about(t)
    update(version, superseded_at=consent.signed_at + dt.timedelta(days=1))  # later versions are fine
    assert hits("CON-001", clinic) == set()


def test_con001_signed_after_the_treatment_or_before_the_approval(clinic: World) -> None:
    t = treatment(clinic, 1)
    consent = SignedConsent.objects.get(treatments=t)
    update(consent, signed_at=t.performed_at + dt.timedelta(hours=1))
    assert hits("CON-001", clinic) == about(t)
    update(consent, signed_at=t.performed_at - dt.timedelta(hours=1))
    update(consent.form_version, approved_at=t.performed_at - dt.timedelta(minutes=30))
    assert hits("CON-001", clinic) == about(t)


def test_con001_version_of_another_procedure(clinic: World) -> None:
    t = treatment(clinic)
    update(SignedConsent.objects.get(treatments=t).form_version, procedure=P.DERMAL_FILLER)
    assert hits("CON-001", clinic) == about(t)


def test_con001_form_of_another_pc_in_a_whole_run_and_a_narrowed_one(clinic: World) -> None:
    t = treatment(clinic)
    version = SignedConsent.objects.get(treatments=t).form_version
    assert version.pc_id == PatientChart.objects.get(pk=t.chart_id).pc_id != clinic.pcs[1].pk
    update(version, pc=clinic.pcs[1], number=version.number + 100)  # (PC, procedure, number) is unique
    assert hits("CON-001", clinic) == about(t)
    assert hits("CON-001", clinic, object_ids=(str(t.pk),)) == about(t)
    update(version, pc=clinic.pcs[0])
    assert hits("CON-001", clinic) == set()
    assert hits("CON-001", clinic, object_ids=(str(t.pk),)) == set()


# --- CON-002 photo authorization ---------------------------------------------------------------------


def test_con002_used_outside_the_chart_after_revocation(clinic: World) -> None:
    photo = clinic.objs[TreatmentPhoto][0]
    update(photo, used_outside_chart=True)
    assert hits("CON-002", clinic) == set()
    update(clinic.objs[PhotoAuthorization][0], revoked_on=today() - dt.timedelta(days=1))
    [found] = run("CON-002", clinic.tenant)
    assert (found["object_type"], found["object_id"]) == ("clinical.TreatmentPhoto", photo.pk)
    assert found["pc_id"] == clinic.pcs[0].pk
    assert found["evidence"]["authorization_revoked_on"] == (today() - dt.timedelta(days=1)).isoformat()


def test_con002_expired_or_another_patients_authorization(clinic: World) -> None:
    photo = clinic.objs[TreatmentPhoto][1]
    update(photo, used_outside_chart=True)
    authorization = clinic.objs[PhotoAuthorization][1]
    update(authorization, expires_on=today() - dt.timedelta(days=1))
    assert hits("CON-002", clinic) == about(photo)
    update(authorization, expires_on=None, chart=clinic.charts[0])
    assert hits("CON-002", clinic) == about(photo)


def test_con002_photos_kept_in_the_chart_need_no_authorization(clinic: World) -> None:
    update(clinic.objs[PhotoAuthorization][0], revoked_on=today() - dt.timedelta(days=1))
    assert hits("CON-002", clinic) == set()


# --- CHT-002 chart review rate ----------------------------------------------------------------------


def in_month(w: World, month: dt.date, charts: int, reviewed: int, index: int = 0) -> None:
    """`charts` new charts of PC `index` treated in `month`, `reviewed` of them reviewed that month."""
    for n in range(charts):
        chart = f.PatientChartFactory.create(
            tenant=w.tenant, pc=w.pcs[index], home_location=w.locations[index]
        )
        f.TreatmentFactory.create(
            tenant=w.tenant, chart=chart, performer=provider(w, L.MD, index), performed_at=at(month, 10)
        )
        if n < reviewed:
            f.ChartReviewFactory.create(
                tenant=w.tenant, chart=chart, reviewer=provider(w, L.MD, index), reviewed_on=month
            )


def test_cht002_month_below_the_share(clinic: World) -> None:
    month = month_start(today(), 2)
    in_month(clinic, month, charts=11, reviewed=1)
    [found] = run("CHT-002", clinic.tenant)
    pc = clinic.pcs[0]
    assert (found["object_type"], found["object_id"]) == ("management.ProfessionalCorporation", pc.pk)
    assert found["discriminator"] == month.strftime("%Y-%m") and found["pc_id"] == pc.pk
    assert found["evidence"] == {
        "pc": pc.legal_name,
        "month": month.strftime("%Y-%m"),
        "charts_treated": 11,
        "charts_reviewed": 1,
        "min_review_percent": 10,
    }
    assert run("CHT-002", clinic.tenant, min_review_percent=9) == []


def test_cht002_exactly_the_share_passes(clinic: World) -> None:
    in_month(clinic, month_start(today(), 2), charts=10, reviewed=1)
    assert run("CHT-002", clinic.tenant) == []


def test_cht002_one_hit_per_pc_and_month(clinic: World) -> None:
    two, three = month_start(today(), 2), month_start(today(), 3)
    in_month(clinic, two, charts=2, reviewed=0)
    in_month(clinic, three, charts=2, reviewed=0)
    in_month(clinic, two, charts=1, reviewed=0, index=1)
    found = {(h["object_id"], h["discriminator"]) for h in run("CHT-002", clinic.tenant)}
    assert found == {
        (clinic.pcs[0].pk, two.strftime("%Y-%m")),
        (clinic.pcs[0].pk, three.strftime("%Y-%m")),
        (clinic.pcs[1].pk, two.strftime("%Y-%m")),
    }
    assert {h["discriminator"] for h in run("CHT-002", clinic.tenant, months_checked=2)} == {
        two.strftime("%Y-%m")
    }
    assert {h["object_id"] for h in run("CHT-002", clinic.tenant, pc_ids=(clinic.pcs[1].pk,))} == {
        clinic.pcs[1].pk
    }


def test_cht002_the_current_month_and_nurse_reviews_do_not_count(clinic: World) -> None:
    in_month(clinic, month_start(today(), 0), charts=3, reviewed=0)
    assert run("CHT-002", clinic.tenant) == []
    month = month_start(today(), 1)
    in_month(clinic, month, charts=1, reviewed=1)
    ChartReview.objects.filter(tenant=clinic.tenant, reviewed_on=month).update(
        reviewer=provider(clinic, L.RN)
    )
    assert {h["discriminator"] for h in run("CHT-002", clinic.tenant)} == {month.strftime("%Y-%m")}


def test_cht002_narrowed_to_finding_keys_reports_exactly_those_pc_months(clinic: World) -> None:
    """A change run gives CHT-002 the (PC, month) keys of the changed treatments (RuleInput.finding_keys)."""
    two, three = month_start(today(), 2), month_start(today(), 3)
    in_month(clinic, two, charts=2, reviewed=0)
    in_month(clinic, three, charts=2, reviewed=0)
    in_month(clinic, two, charts=1, reviewed=0, index=1)
    rule = REGISTRY.get("CHT-002")
    pc0, pc1 = clinic.pcs[0].pk, clinic.pcs[1].pk
    m2, m3 = two.strftime("%Y-%m"), three.strftime("%Y-%m")

    def keyed(*keys: tuple[Any, str]) -> set[tuple[Any, str]]:
        given = RuleInput(
            tenant_id=clinic.tenant.pk,
            today=today(),
            params=rule.defaults(),
            finding_keys=tuple((str(pc), month) for pc, month in keys),
        )
        return {(h["object_id"], h["discriminator"]) for h in rule.query(given)}

    everything = {(h["object_id"], h["discriminator"]) for h in run("CHT-002", clinic.tenant)}
    assert everything == {(pc0, m2), (pc0, m3), (pc1, m2)}
    assert keyed((pc0, m2)) == {(pc0, m2)}
    assert keyed((pc0, m2), (pc1, m2)) == {(pc0, m2), (pc1, m2)}
    assert keyed((pc1, m3), (pc0, m3)) == {(pc0, m3)}  # no shortfall of PC 1 in month three
    assert keyed((pc0, m2), (pc0, m3), (pc1, m2)) == everything
    assert keyed() == set()
    # The evidence of a narrowed hit is the month's whole count, not the changed rows'.
    [narrowed] = [
        h for h in run("CHT-002", clinic.tenant) if (h["object_id"], h["discriminator"]) == (pc0, m2)
    ]
    given = RuleInput(
        tenant_id=clinic.tenant.pk, today=today(), params=rule.defaults(), finding_keys=((str(pc0), m2),)
    )
    assert list(rule.query(given)) == [narrowed]


# --- REC-001 record retention ------------------------------------------------------------------------


def test_rec001_destroyed_before_seven_years(clinic: World) -> None:
    t, chart = treatment(clinic), clinic.charts[0]
    last = timezone.localdate(t.performed_at)
    update(chart, destroyed_on=last + dt.timedelta(days=365 * 2))
    [found] = run("REC-001", clinic.tenant, on=last + dt.timedelta(days=365 * 3))
    assert (found["object_type"], found["object_id"]) == ("clinical.PatientChart", chart.pk)
    assert found["evidence"]["last_service"] == last.isoformat()
    assert found["evidence"]["keep_until"] == years_after(last, 7).isoformat()
    update(chart, destroyed_on=years_after(last, 7))
    assert hits("REC-001", clinic) == set()


def test_rec001_a_minor_is_kept_until_19(clinic: World) -> None:
    t, chart = treatment(clinic, 1), clinic.charts[1]
    last = timezone.localdate(t.performed_at)
    born = last.replace(year=last.year - 10, day=1)  # ten at the last service: 19 comes after 7 years
    update(chart, date_of_birth=born, destroyed_on=years_after(last, 8))
    assert hits("REC-001", clinic) == about(chart)
    update(chart, destroyed_on=born.replace(year=born.year + 19))
    assert hits("REC-001", clinic) == set()


def wrapped(rule_id: str, tenant: Any) -> int:
    """Row count of the rule's SQL read as a sub-select with the column types the engine's upsert
    casts to (compliance.engine), so every hit column is of a type that survives those casts."""
    rule = REGISTRY.get(rule_id)
    qs = rule.query(RuleInput(tenant_id=tenant.pk, today=today(), params=rule.defaults())).order_by()
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM (SELECT h.object_type::text, h.object_id::uuid, h.discriminator::text, "
            "h.pc_id::uuid, h.location_id::uuid, h.severity::text, h.evidence::jsonb "
            f"FROM ({sql}) AS h) AS typed",
            params,
        )
        return int(cur.fetchone()[0])


# --- the demo seed -----------------------------------------------------------------------------------


def test_the_demo_seed_plants_gfe_del002_and_cht001_and_nothing_else(db: None) -> None:
    from tenants.demo import seed_demo

    tenant = seed_demo().tenant
    with connection.cursor() as cur:  # read the demo tenant (RLS is forced even for the owner there)
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant.pk)])
    planted = {
        "GFE-001": ("Camila Ferreira", "Nina Brooks", P.NEUROTOXIN),
        "DEL-002": ("Sienna Marsh", "Rosa Delgado", P.LASER_HAIR_REMOVAL),
        "CHT-001": ("Grace Whitman", "Sofia Alvarez", P.DERMAL_FILLER),
    }
    for rule_id in CLINICAL_RULES:
        found = run(rule_id, tenant)
        assert wrapped(rule_id, tenant) == len(found), rule_id
        if rule_id not in planted:
            assert found == [], rule_id
            continue
        patient, performer, procedure = planted[rule_id]
        row = Treatment.objects.get(
            chart__patient_name=patient, performer__full_name=performer, procedure=procedure
        )
        assert [(h["object_type"], h["object_id"]) for h in found] == [("clinical.Treatment", row.pk)], (
            rule_id
        )


# --- the database boundary ----------------------------------------------------------------------------


def test_a_clinical_rule_is_refused_to_the_business_role(clinic: World, as_ctx: ActAs) -> None:
    update(clinic.objs[GoodFaithExam][0], examiner=provider(clinic, L.RN))
    rule = REGISTRY.get("GFE-001")
    params = RuleInput(tenant_id=clinic.tenant.pk, today=today(), params=rule.defaults())
    with as_ctx(clinic.ctx("mso_compliance")):
        with pytest.raises(ProgrammingError, match="permission denied"), transaction.atomic():
            list(rule.query(params))
    # The control: the clinical role runs the same SQL (under RLS) and sees the hit.
    with as_ctx(clinic.ctx("pc_physician")):
        assert [h["object_id"] for h in rule.query(params)] == [treatment(clinic).pk]


def test_every_clinical_rule_reads_schema_clinical(clinic: World) -> None:
    """So that the business role's refusal above holds for each of them, not only for GFE-001."""
    for rule_id in CLINICAL_RULES:
        rule = REGISTRY.get(rule_id)
        sql, _ = rule.query(
            RuleInput(tenant_id=clinic.tenant.pk, today=today(), params=rule.defaults())
        ).query.sql_with_params()
        assert '"clinical".' in sql, rule_id
