"""The business-side compliance rules (compliance/rules/business.py): for each rule a planted violation
seen as exactly that hit, and a compliant twin that is not; the demo tenant's deliberate problems
found on their rows and nothing else; tenants and PC scoping kept apart."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

import compliance.rules.business  # noqa: F401 - registers the business rules
from compliance.registry import HIT_KEYS, REGISTRY, RuleInput
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
from management.procedures import LicenseStatus, LicenseType
from tenants.access import AccessContext
from tenants.capacities import CAPACITIES, Side
from tenants.demo import DELIBERATE_PROBLEMS, month_start, seed_demo
from tenants.models import Membership, Tenant
from tenants.services import object_access_grant
from tests import factories as f
from tests.domain_world import approve_as_owner
from tests.worlds import World

pytestmark = pytest.mark.django_db
ActAs = Callable[[AccessContext], AbstractContextManager[None]]

TODAY = timezone.localdate()
BUSINESS_RULES = sorted(r.id for r in REGISTRY.rules.values() if r.side == Side.BUSINESS)


def days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


def run(
    rule_id: str,
    tenant: Tenant,
    *,
    today: dt.date | None = None,
    pc_ids: tuple[Any, ...] | None = None,
    object_ids: tuple[Any, ...] | None = None,
    **params: Decimal,
) -> list[dict[str, Any]]:
    item = REGISTRY.get(rule_id)
    given = RuleInput(
        tenant_id=tenant.pk,
        today=today or TODAY,
        params=item.defaults() | params,
        pc_ids=pc_ids,
        object_ids=object_ids,
    )
    return list(item.query(given))


def objects(rule_id: str, world: World, **kwargs: Any) -> set[tuple[str, Any]]:
    """(object_type, object_id) of every hit of the rule in the world's tenant."""
    return {(h["object_type"], h["object_id"]) for h in run(rule_id, world.tenant, **kwargs)}


def finding(row: dict[str, Any]) -> tuple[str, str, str]:
    """What the engine fingerprints a hit by: rule (implied), object and discriminator."""
    return (row["object_type"], str(row["object_id"]), row["discriminator"])


def ref(obj: Any) -> tuple[str, Any]:
    return (obj._meta.label, obj.pk)


def only(rule_id: str, world: World, **kwargs: Any) -> dict[str, Any]:
    """The one hit of the rule (asserting there is exactly one)."""
    hits = run(rule_id, world.tenant, **kwargs)
    assert len(hits) == 1, hits
    return hits[0]


def obj(world: World, model: type[Any], index: int = 0) -> Any:
    return world.objs[model][index]


def fresh_msa(world: World, **kwargs: Any) -> ManagementServicesAgreement:
    """An MSA on a PC of its own, so invoices and collections of the world do not mix in."""
    pc = f.ProfessionalCorporationFactory.create(tenant=world.tenant)
    return f.MsaFactory.create(tenant=world.tenant, mso_entity=world.entity, pc=pc, **kwargs)


def invoice(msa: ManagementServicesAgreement, back: int, amount: str, **kwargs: Any) -> ManagementFeeInvoice:
    first = month_start(TODAY, back)
    return f.ManagementFeeInvoiceFactory.create(
        tenant=msa.tenant,
        msa=msa,
        period_start=first,
        period_end=month_start(TODAY, back - 1) - dt.timedelta(days=1),
        amount=Decimal(amount),
        **kwargs,
    )


def collection(pc: ProfessionalCorporation, back: int, amount: str) -> PcCollection:
    return f.PcCollectionFactory.create(
        tenant=pc.tenant, pc=pc, month=month_start(TODAY, back), amount=Decimal(amount)
    )


# --- the whole set ---------------------------------------------------------------------------------


def test_the_business_rules_are_registered_with_their_data() -> None:
    encoded = [
        "CPOM-001",
        "CPOM-002",
        "CPOM-003",
        "CPOM-004",
        "CPOM-005",
        "CPOM-007",
        "MSA-001",
        "MSA-002",
        "MSA-003",
        "MSA-004",
        "FEE-001",
        "FEE-002",
        "FEE-003",
        "FEE-004",
        "SEP-001",
        "SEP-002",
        "SEP-003",
        "LIC-001",
        "LIC-002",
        "LIC-003",
        "ADV-001",
        "ADV-002",
        "ADV-003",
        "ADV-004",
        "BAA-001",
        "HIP-002",
        "OSH-001",
        "WST-001",
        "EQP-001",
        "LAB-001",
    ]
    assert sorted(encoded) == BUSINESS_RULES
    for rule_id in BUSINESS_RULES:
        item = REGISTRY.get(rule_id)
        assert item.citation and item.statement and item.title and item.triggers, rule_id
        for label in item.triggers:
            assert label.startswith("management."), (rule_id, label)
        for t in item.thresholds:
            assert t.minimum <= t.default <= t.maximum, (rule_id, t.name)


def test_a_complete_world_is_clean_and_another_tenants_problems_stay_there(
    domain_a: World, world_b: World
) -> None:
    # world_b has locations without MSAs, PCs without cap tables or accounts: problems of its own.
    assert objects("MSA-001", world_b) and objects("CPOM-001", world_b)
    for rule_id in BUSINESS_RULES:
        hits = run(rule_id, domain_a.tenant)
        assert hits == [], (rule_id, hits)


def test_pc_scoped_runs_look_only_at_the_given_pcs(domain_a: World) -> None:
    lay = f.ShareholderFactory.create(
        tenant=domain_a.tenant,
        pc=domain_a.pcs[1],
        license_type=LicenseType.NONE,
        license_number="",
        shares=10,
    )
    assert REGISTRY.get("CPOM-001").scoped_by_pc
    assert objects("CPOM-001", domain_a, pc_ids=(domain_a.pcs[0].pk,)) == set()
    assert objects("CPOM-001", domain_a, pc_ids=(domain_a.pcs[1].pk,)) == {ref(domain_a.pcs[1])}
    hit = only("CPOM-001", domain_a)
    assert hit["pc_id"] == lay.pc_id


# --- CPOM ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("holders", "problems"),
    [
        ([(LicenseType.NONE, "", 300)], {"lay_shareholder"}),
        (
            [(LicenseType.NP, "CA", 1100)],
            {"physicians_hold_under_51_percent", "licensees_hold_over_49_percent"},
        ),
        (
            [(LicenseType.RN, "CA", 100), (LicenseType.PA, "CA", 100)],
            {"more_licensee_than_physician_holders"},
        ),
        # A physician licensed in Nevada is a lay holder of a California PC.
        ([(LicenseType.MD, "NV", 2000)], {"lay_shareholder", "physicians_hold_under_51_percent"}),
    ],
)
def test_cpom_001_cap_table_rules(
    domain_a: World, holders: list[tuple[str, str, int]], problems: set[str]
) -> None:
    pc = domain_a.pcs[0]
    for license_type, state, shares in holders:
        f.ShareholderFactory.create(
            tenant=domain_a.tenant,
            pc=pc,
            name=f"Holder {license_type}",
            license_type=license_type,
            license_state=state,
            shares=shares,
        )
    hit = only("CPOM-001", domain_a)
    assert (hit["object_type"], hit["object_id"], hit["pc_id"]) == (
        "management.ProfessionalCorporation",
        pc.pk,
        pc.pk,
    )
    assert set(hit["evidence"]["problems"]) == problems
    if "lay_shareholder" in problems:
        assert hit["evidence"]["lay_holders"]


def test_cpom_001_a_pc_without_a_cap_table(domain_a: World) -> None:
    Shareholder.objects.filter(pc=domain_a.pcs[1]).delete()
    hit = only("CPOM-001", domain_a)
    assert hit["object_id"] == domain_a.pcs[1].pk
    assert hit["evidence"]["problems"] == ["no_shareholders_recorded"]


def test_cpom_001_a_minority_licensee_is_compliant(domain_a: World) -> None:
    f.ShareholderFactory.create(
        tenant=domain_a.tenant, pc=domain_a.pcs[0], license_type=LicenseType.NP, shares=400
    )  # 1,000 MD shares: 71% / 29%, one holder each
    assert objects("CPOM-001", domain_a) == set()


def test_cpom_002_owner_licence_not_active(domain_a: World) -> None:
    owner = obj(domain_a, Shareholder)
    Shareholder.objects.filter(pk=owner.pk).update(license_status=LicenseStatus.EXPIRED)
    other = obj(domain_a, Shareholder, 1)
    Shareholder.objects.filter(pk=other.pk).update(license_state="NV")
    assert objects("CPOM-002", domain_a) == {ref(owner), ref(other)}
    by_id = {h["object_id"]: h for h in run("CPOM-002", domain_a.tenant)}
    assert by_id[owner.pk]["evidence"]["problems"] == ["license_not_active"]
    assert by_id[other.pk]["evidence"]["problems"] == ["license_of_another_state"]


def test_cpom_002_probation_is_active_and_lay_holders_are_cpom_001s(domain_a: World) -> None:
    Shareholder.objects.filter(pk=obj(domain_a, Shareholder).pk).update(
        license_status=LicenseStatus.PROBATION
    )
    f.ShareholderFactory.create(
        tenant=domain_a.tenant, pc=domain_a.pcs[1], license_type=LicenseType.NONE, license_number="", shares=1
    )
    assert objects("CPOM-002", domain_a) == set()


def test_cpom_003_mso_member_with_a_clinical_permission_and_msa_without_the_clause(domain_a: World) -> None:
    object_access_grant(
        membership=domain_a.members["mso_admin"], obj=domain_a.pcs[1], perms=["approve_marketing"]
    )
    grant = PcGroupObjectPermission.objects.get(
        group=domain_a.members["mso_admin"].group, permission__codename="approve_marketing"
    )
    msa = obj(domain_a, ManagementServicesAgreement, 1)
    ManagementServicesAgreement.objects.filter(pk=msa.pk).update(non_clinical_role_clause=False)
    assert objects("CPOM-003", domain_a) == {ref(grant), ref(msa)}
    by_id = {h["object_id"]: h for h in run("CPOM-003", domain_a.tenant)}
    assert by_id[grant.pk]["evidence"]["permission"] == "approve_marketing"
    assert by_id[grant.pk]["evidence"]["capacity"] == "mso_admin"
    assert by_id[grant.pk]["pc_id"] == domain_a.pcs[1].pk


def test_cpom_003_physicians_hold_clinical_permissions_and_old_msas_do_not_count(domain_a: World) -> None:
    object_access_grant(
        membership=domain_a.members["pc_physician"], obj=domain_a.pcs[1], perms=["approve_marketing"]
    )
    object_access_grant(
        membership=domain_a.members["mso_admin"], obj=domain_a.pcs[1], perms=["view_professionalcorporation"]
    )
    f.MsaFactory.create(
        tenant=domain_a.tenant,
        mso_entity=domain_a.entity,
        pc=domain_a.pcs[0],
        effective_date=days(-900),
        end_date=days(-1),
        non_clinical_role_clause=False,
    )
    assert objects("CPOM-003", domain_a) == set()


def test_cpom_004_trade_name_without_a_current_permit(domain_a: World) -> None:
    loc0, loc1 = domain_a.locations
    Location.objects.filter(pk=loc0.pk).update(trade_name="Glow Aesthetics")  # no permit linked
    expired = f.FictitiousNamePermitFactory.create(
        tenant=domain_a.tenant,
        pc=domain_a.pcs[1],
        fictitious_name="Bright Skin",
        issued_on=days(-800),
        expires_on=days(-70),
    )
    Location.objects.filter(pk=loc1.pk).update(trade_name="Bright Skin", name_permit=expired)
    assert objects("CPOM-004", domain_a) == {ref(loc0), ref(loc1)}


def test_cpom_004_permitted_names_and_own_names(domain_a: World) -> None:
    loc0, loc1 = domain_a.locations
    permit = obj(domain_a, FictitiousNamePermit)  # the first PC's, current
    assert permit.pc_id == loc0.pc_id
    Location.objects.filter(pk=loc0.pk).update(trade_name=permit.fictitious_name.upper(), name_permit=permit)
    Location.objects.filter(pk=loc1.pk).update(trade_name=domain_a.pcs[1].legal_name)
    assert objects("CPOM-004", domain_a) == set()
    # The first PC's permit does not cover the second PC's location.
    Location.objects.filter(pk=loc1.pk).update(trade_name=permit.fictitious_name, name_permit=permit)
    assert objects("CPOM-004", domain_a) == {ref(loc1)}


def test_cpom_005_private_equity_msa_with_a_gag_clause(domain_a: World) -> None:
    MsoEntity.objects.filter(pk=domain_a.entity.pk).update(investor_type=InvestorType.PRIVATE_EQUITY)
    msa = obj(domain_a, ManagementServicesAgreement)
    ManagementServicesAgreement.objects.filter(pk=msa.pk).update(clinician_gag_clause=True)
    hit = only("CPOM-005", domain_a)
    assert (hit["object_id"], hit["evidence"]["clauses"]) == (msa.pk, ["clinician_gag"])


def test_cpom_005_clauses_without_an_investor_or_an_investor_without_clauses(domain_a: World) -> None:
    msa = obj(domain_a, ManagementServicesAgreement)
    ManagementServicesAgreement.objects.filter(pk=msa.pk).update(investor_clinical_control_clause=True)
    assert objects("CPOM-005", domain_a) == set()
    ManagementServicesAgreement.objects.filter(pk=msa.pk).update(investor_clinical_control_clause=False)
    MsoEntity.objects.filter(pk=domain_a.entity.pk).update(investor_type=InvestorType.HEDGE_FUND)
    assert objects("CPOM-005", domain_a) == set()


def test_cpom_007_non_competes(domain_a: World) -> None:
    staff = obj(domain_a, StaffMember)
    provider = obj(domain_a, Provider, 1)
    StaffMember.objects.filter(pk=staff.pk).update(contract_has_noncompete=True)
    Provider.objects.filter(pk=provider.pk).update(contract_has_noncompete=True)
    assert objects("CPOM-007", domain_a) == {ref(staff), ref(provider)}


def test_cpom_007_contracts_without_one(domain_a: World) -> None:
    f.StaffMemberFactory.create(
        tenant=domain_a.tenant, employer=domain_a.entity, contract_has_noncompete=False
    )
    assert objects("CPOM-007", domain_a) == set()


# --- MSA --------------------------------------------------------------------------------------------


def test_msa_001_location_without_an_msa_in_force(domain_a: World) -> None:
    other = f.MsoEntityFactory.create(tenant=domain_a.tenant)
    unmanaged = f.LocationFactory.create(tenant=domain_a.tenant, managing_entity=other, pc=domain_a.pcs[0])
    msa = obj(domain_a, ManagementServicesAgreement, 1)
    ManagementServicesAgreement.objects.filter(pk=msa.pk).update(signed_on=None)
    assert objects("MSA-001", domain_a) == {ref(unmanaged), ref(domain_a.locations[1])}
    # Expired is no better than unsigned.
    ManagementServicesAgreement.objects.filter(pk=msa.pk).update(signed_on=days(-400), end_date=days(-1))
    assert objects("MSA-001", domain_a) == {ref(unmanaged), ref(domain_a.locations[1])}


def test_msa_001_a_signed_msa_with_the_managing_entity_covers_the_location(domain_a: World) -> None:
    other = f.MsoEntityFactory.create(tenant=domain_a.tenant)
    f.LocationFactory.create(tenant=domain_a.tenant, managing_entity=other, pc=domain_a.pcs[0])
    f.MsaFactory.create(tenant=domain_a.tenant, mso_entity=other, pc=domain_a.pcs[0], end_date=TODAY)
    assert objects("MSA-001", domain_a) == set()


def test_msa_002_missing_clauses(domain_a: World) -> None:
    first = obj(domain_a, ManagementServicesAgreement)
    second = obj(domain_a, ManagementServicesAgreement, 1)
    ManagementServicesAgreement.objects.filter(pk=first.pk).update(
        dispute_resolution_clause=False, governing_state="NV"
    )
    PerformanceStandard.objects.filter(msa=second).delete()
    by_id = {h["object_id"]: h for h in run("MSA-002", domain_a.tenant)}
    assert set(by_id) == {first.pk, second.pk}
    assert by_id[first.pk]["evidence"]["missing"] == ["dispute_resolution_clause", "governing_state_of_pc"]
    assert by_id[second.pk]["evidence"]["missing"] == ["performance_standards"]


def test_msa_002_fee_terms_must_be_complete(domain_a: World) -> None:
    msa = obj(domain_a, ManagementServicesAgreement)
    ManagementServicesAgreement.objects.filter(pk=msa.pk).update(
        fee_basis=FeeBasis.PER_UNIT, fee_amount=Decimal("95.00"), fee_unit=""
    )
    assert only("MSA-002", domain_a)["evidence"]["missing"] == ["fee_terms"]
    ManagementServicesAgreement.objects.filter(pk=msa.pk).update(fee_unit="front-desk hour")
    assert objects("MSA-002", domain_a) == set()


def test_msa_002_expired_agreements_are_not_audited(domain_a: World) -> None:
    f.MsaFactory.create(
        tenant=domain_a.tenant,
        mso_entity=domain_a.entity,
        pc=domain_a.pcs[0],
        effective_date=days(-900),
        end_date=days(-30),
        dispute_resolution_clause=False,
        termination_clause=False,
    )
    assert objects("MSA-002", domain_a) == set()


def test_msa_003_percentage_fee_high_without_fmv_and_counsel_low_with_them(domain_a: World) -> None:
    msa = obj(domain_a, ManagementServicesAgreement)
    ManagementServicesAgreement.objects.filter(pk=msa.pk).update(
        fee_basis=FeeBasis.PERCENT_OF_COLLECTIONS,
        fee_amount=None,
        fee_rate_percent=Decimal("8.00"),
        fmv_opinion_date=None,
    )
    hit = only("MSA-003", domain_a)
    assert (hit["object_id"], hit["severity"], hit["evidence"]["advisory"]) == (msa.pk, None, False)
    ManagementServicesAgreement.objects.filter(pk=msa.pk).update(
        fmv_opinion_date=days(-100), counsel_reviewed_on=days(-90)
    )
    hit = only("MSA-003", domain_a)
    assert (hit["object_id"], hit["severity"], hit["evidence"]["advisory"]) == (msa.pk, "low", True)
    # An FMV opinion older than the window is not current: high again.
    ManagementServicesAgreement.objects.filter(pk=msa.pk).update(fmv_opinion_date=days(-800))
    assert only("MSA-003", domain_a)["severity"] is None


def test_msa_003_a_signed_amendment_to_a_percentage_counts(domain_a: World) -> None:
    msa = obj(domain_a, ManagementServicesAgreement, 1)
    assert objects("MSA-003", domain_a) == set()
    f.MsaAmendmentFactory.create(
        tenant=domain_a.tenant,
        msa=msa,
        number=7,
        effective_date=days(-10),
        signed_on=days(-15),
        new_fee_basis=FeeBasis.PERCENT_OF_COLLECTIONS,
        new_fee_rate_percent=Decimal("7.50"),
    )
    assert objects("MSA-003", domain_a) == {ref(msa)}


def test_msa_004_fmv_missing_stale_or_not_covering_the_fee(domain_a: World) -> None:
    first = obj(domain_a, ManagementServicesAgreement)
    second = obj(domain_a, ManagementServicesAgreement, 1)
    ManagementServicesAgreement.objects.filter(pk=first.pk).update(fmv_opinion_date=days(-800))
    f.MsaAmendmentFactory.create(
        tenant=domain_a.tenant,
        msa=second,
        number=5,
        effective_date=days(-20),
        signed_on=days(-25),
        new_fee_amount=Decimal("52000.00"),  # above the 38,000-47,000 range
    )
    by_id = {h["object_id"]: h for h in run("MSA-004", domain_a.tenant)}
    assert set(by_id) == {first.pk, second.pk}
    assert by_id[first.pk]["evidence"]["problems"] == ["fmv_opinion_stale"]
    assert by_id[second.pk]["evidence"]["problems"] == ["fee_above_fmv_range"]
    ManagementServicesAgreement.objects.filter(pk=first.pk).update(fmv_opinion_date=None)
    assert (
        "no_fmv_opinion"
        in {h["object_id"]: h for h in run("MSA-004", domain_a.tenant)}[first.pk]["evidence"]["problems"]
    )


def test_msa_004_an_unsigned_amendment_does_not_change_the_fee(domain_a: World) -> None:
    f.MsaAmendmentFactory.create(
        tenant=domain_a.tenant,
        msa=obj(domain_a, ManagementServicesAgreement),
        number=5,
        effective_date=days(-20),
        signed_on=None,
        new_fee_amount=Decimal("52000.00"),
    )
    assert objects("MSA-004", domain_a) == set()


# --- fees -------------------------------------------------------------------------------------------


def test_fee_001_invoice_off_the_msa_beyond_the_tolerance(domain_a: World) -> None:
    msa = fresh_msa(domain_a)  # fixed 42,000
    off = invoice(msa, 3, "43800.00")
    invoice(msa, 2, "42300.00")  # within 1%
    invoice(msa, 1, "43800.00", status=ManagementFeeInvoice.Status.DRAFT)  # not billed yet
    invoice(msa, 4, "43800.00", status=ManagementFeeInvoice.Status.VOID)
    hit = only("FEE-001", domain_a)
    assert (hit["object_type"], hit["object_id"], hit["pc_id"]) == (
        "management.ManagementFeeInvoice",
        off.pk,
        msa.pc_id,
    )
    assert Decimal(str(hit["evidence"]["expected"])) == Decimal("42000.00")
    assert objects("FEE-001", domain_a, tolerance_percent=Decimal("5")) == set()


def test_fee_001_percentage_fee_against_collections(domain_a: World) -> None:
    msa = fresh_msa(
        domain_a,
        fee_basis=FeeBasis.PERCENT_OF_COLLECTIONS,
        fee_amount=None,
        fee_rate_percent=Decimal("8.00"),
    )
    collection(msa.pc, 2, "180000.00")
    collection(msa.pc, 1, "150000.00")
    invoice(msa, 2, "14400.00")
    wrong = invoice(msa, 1, "14400.00")  # 8% of 150,000 is 12,000
    invoice(msa, 3, "9999.00")  # no collections recorded: nothing to compare with
    assert objects("FEE-001", domain_a) == {ref(wrong)}


def test_fee_001_a_signed_fee_amendment_changes_what_is_due(domain_a: World) -> None:
    msa = fresh_msa(domain_a)
    f.MsaAmendmentFactory.create(
        tenant=domain_a.tenant,
        msa=msa,
        number=1,
        effective_date=month_start(TODAY, 2),
        signed_on=month_start(TODAY, 3),
        new_fee_amount=Decimal("45000.00"),
    )
    invoice(msa, 3, "42000.00")
    invoice(msa, 2, "45000.00")
    stale = invoice(msa, 1, "42000.00")
    assert objects("FEE-001", domain_a) == {ref(stale)}


def test_fee_001_invoice_outside_the_msa_term(domain_a: World) -> None:
    msa = fresh_msa(domain_a, effective_date=month_start(TODAY, 2), signed_on=month_start(TODAY, 3))
    early = invoice(msa, 3, "42000.00")
    invoice(msa, 2, "42000.00")
    hit = only("FEE-001", domain_a)
    assert (hit["object_id"], hit["evidence"]["outside_msa_term"]) == (early.pk, True)


def planted_percentage(world: World, months: int, share: str | None) -> ManagementServicesAgreement:
    """A fixed 30,000 MSA with `months` of seasonal collections, invoiced at `share` of them (or 30,000)."""
    msa = fresh_msa(
        world, fee_amount=Decimal("30000.00"), fmv_low=Decimal("25000"), fmv_high=Decimal("35000")
    )
    for back in range(1, months + 1):
        collected = Decimal(160000 + 9000 * (back % 4) - 4000 * (back % 3))
        collection(msa.pc, back, f"{collected:.2f}")
        amount = (collected * Decimal(share)).quantize(Decimal("0.01")) if share else Decimal("30000.00")
        invoice(msa, back, f"{amount}")
    return msa


def test_fee_002_fixed_fee_invoiced_as_a_share_of_collections(domain_a: World) -> None:
    msa = planted_percentage(domain_a, 8, "0.17")
    hit = only("FEE-002", domain_a)
    assert (hit["object_type"], hit["object_id"], hit["pc_id"]) == (
        "management.ManagementServicesAgreement",
        msa.pk,
        msa.pc_id,
    )
    assert hit["evidence"]["months"] == 8
    assert hit["evidence"]["correlation"] >= 0.99
    assert Decimal(str(hit["evidence"]["mean_percent_of_collections"])) == Decimal("17.00")


def test_fee_002_a_fixed_fee_invoiced_as_fixed(domain_a: World) -> None:
    planted_percentage(domain_a, 8, None)
    assert objects("FEE-002", domain_a) == set()


def test_fee_002_needs_enough_months(domain_a: World) -> None:
    msa = planted_percentage(domain_a, 5, "0.17")
    assert objects("FEE-002", domain_a) == set()
    assert objects("FEE-002", domain_a, min_months=Decimal("5")) == {ref(msa)}


def test_fee_002_a_percentage_msa_is_msa_003s(domain_a: World) -> None:
    msa = planted_percentage(domain_a, 8, "0.17")
    ManagementServicesAgreement.objects.filter(pk=msa.pk).update(
        fee_basis=FeeBasis.PERCENT_OF_COLLECTIONS, fee_rate_percent=Decimal("17.00")
    )
    assert objects("FEE-002", domain_a) == set()


def test_fee_003_fee_changed_without_an_amendment(domain_a: World) -> None:
    msa = fresh_msa(domain_a, fee_amount=Decimal("30000.00"))
    for back in (6, 5, 4):
        invoice(msa, back, "30000.00")
    raised = invoice(msa, 3, "32000.00")
    invoice(msa, 2, "32000.00")
    invoice(msa, 1, "32000.00")
    hit = only("FEE-003", domain_a)
    assert (hit["object_type"], hit["object_id"]) == ("management.ManagementFeeInvoice", raised.pk)
    assert Decimal(str(hit["evidence"]["previous_amount"])) == Decimal("30000.00")
    # An unsigned amendment covers nothing; a signed one taking effect in between does.
    amendment = f.MsaAmendmentFactory.create(
        tenant=domain_a.tenant,
        msa=msa,
        number=1,
        effective_date=month_start(TODAY, 3),
        signed_on=None,
        new_fee_amount=Decimal("32000.00"),
    )
    assert objects("FEE-003", domain_a) == {ref(raised)}
    amendment.signed_on = month_start(TODAY, 4)
    amendment.save()
    assert objects("FEE-003", domain_a) == set()


def test_fee_003_a_one_off_deviation_is_not_a_fee_change(domain_a: World) -> None:
    msa = fresh_msa(domain_a, fee_amount=Decimal("30000.00"))
    for back, amount in ((5, "30000.00"), (4, "30000.00"), (3, "33000.00"), (2, "30000.00"), (1, "30000.00")):
        invoice(msa, back, amount)
    assert objects("FEE-003", domain_a) == set()


def test_fee_003_a_new_amount_counts_once_the_next_invoice_keeps_it(domain_a: World) -> None:
    msa = fresh_msa(domain_a, fee_amount=Decimal("30000.00"))
    invoice(msa, 4, "30000.00")
    invoice(msa, 3, "30000.00")
    raised = invoice(msa, 2, "31000.00")
    assert objects("FEE-003", domain_a) == set()  # one invoice at a new amount is FEE-001's
    invoice(msa, 1, "31000.00")
    assert objects("FEE-003", domain_a) == {ref(raised)}


def test_fee_003_amounts_that_move_every_month_are_not_a_fee_change(domain_a: World) -> None:
    msa = fresh_msa(domain_a, fee_amount=Decimal("30000.00"))
    for back, amount in ((4, "29100.00"), (3, "31200.00"), (2, "30400.00"), (1, "28800.00")):
        invoice(msa, back, amount)
    assert objects("FEE-003", domain_a) == set()


def test_fee_004_pay_per_lead_and_per_new_patient(domain_a: World) -> None:
    leads = f.VendorFactory.create(
        tenant=domain_a.tenant,
        handles_phi=False,
        fee_basis=Vendor.FeeBasis.PER_LEAD,
        fee_amount=Decimal("45"),
    )
    msa = obj(domain_a, ManagementServicesAgreement)
    ManagementServicesAgreement.objects.filter(pk=msa.pk).update(
        fee_basis=FeeBasis.PER_UNIT, fee_amount=Decimal("150.00"), fee_unit="New patient booked"
    )
    assert objects("FEE-004", domain_a) == {ref(leads), ref(msa)}


def test_fee_004_flat_vendors_and_per_hour_units(domain_a: World) -> None:
    f.VendorFactory.create(tenant=domain_a.tenant, handles_phi=False, fee_basis=Vendor.FeeBasis.HOURLY)
    msa = obj(domain_a, ManagementServicesAgreement)
    ManagementServicesAgreement.objects.filter(pk=msa.pk).update(
        fee_basis=FeeBasis.PER_UNIT, fee_amount=Decimal("95.00"), fee_unit="front-desk hour"
    )
    assert objects("FEE-004", domain_a) == set()


# --- corporate distinction ------------------------------------------------------------------------


def test_sep_001_one_account_recorded_for_two_owners_and_a_pc_without_any(domain_a: World) -> None:
    mso = f.BankAccountFactory.create(
        tenant=domain_a.tenant, mso_entity=domain_a.entity, routing_number="122000661", account_last4="4410"
    )
    pc = f.BankAccountFactory.create(
        tenant=domain_a.tenant, pc=domain_a.pcs[0], routing_number="122000661", account_last4="4410"
    )
    bare = f.ProfessionalCorporationFactory.create(tenant=domain_a.tenant)
    assert objects("SEP-001", domain_a) == {ref(mso), ref(pc), ref(bare)}
    by_id = {h["object_id"]: h for h in run("SEP-001", domain_a.tenant)}
    assert by_id[mso.pk]["evidence"]["also_owned_by"] == domain_a.pcs[0].legal_name
    assert by_id[bare.pk]["evidence"]["problem"] == "no_account"


def test_sep_001_same_last_four_at_another_bank_is_another_account(domain_a: World) -> None:
    f.BankAccountFactory.create(
        tenant=domain_a.tenant, mso_entity=domain_a.entity, routing_number="122000661", account_last4="4410"
    )
    f.BankAccountFactory.create(
        tenant=domain_a.tenant, pc=domain_a.pcs[0], routing_number="121000358", account_last4="4410"
    )
    # One owner may hold two accounts at one bank.
    f.BankAccountFactory.create(
        tenant=domain_a.tenant,
        pc=domain_a.pcs[1],
        routing_number="",
        bank_name="Torrey Pines",
        account_last4="7001",
    )
    f.BankAccountFactory.create(
        tenant=domain_a.tenant,
        pc=domain_a.pcs[1],
        routing_number="",
        bank_name="Torrey Pines",
        account_last4="7002",
    )
    assert objects("SEP-001", domain_a) == set()


def test_sep_002_medical_payment_deposited_outside_the_pc(domain_a: World) -> None:
    mso_account = obj(domain_a, BankAccount)
    assert mso_account.mso_entity_id == domain_a.entity.pk
    other_pc_account = BankAccount.objects.get(pc=domain_a.pcs[1])
    location = domain_a.locations[0]
    to_mso = f.PatientPaymentFactory.create(
        tenant=domain_a.tenant, location=location, deposited_to=mso_account
    )
    to_other_pc = f.PatientPaymentFactory.create(
        tenant=domain_a.tenant, location=location, deposited_to=other_pc_account
    )
    assert objects("SEP-002", domain_a) == {ref(to_mso), ref(to_other_pc)}
    hit = next(h for h in run("SEP-002", domain_a.tenant) if h["object_id"] == to_mso.pk)
    assert (hit["pc_id"], hit["location_id"]) == (location.pc_id, location.pk)
    assert hit["evidence"]["account_owner"] == domain_a.entity.legal_name


def test_sep_002_retail_sales_may_go_to_the_mso(domain_a: World) -> None:
    f.PatientPaymentFactory.create(
        tenant=domain_a.tenant,
        location=domain_a.locations[0],
        kind=PatientPayment.Kind.RETAIL_PRODUCT,
        deposited_to=obj(domain_a, BankAccount),
    )
    assert objects("SEP-002", domain_a) == set()


def test_sep_003_mso_name_on_an_ad_or_a_location(domain_a: World) -> None:
    ad = obj(domain_a, MarketingAsset)
    MarketingAsset.objects.filter(pk=ad.pk).update(brand_name=domain_a.entity.legal_name.lower())
    Location.objects.filter(pk=domain_a.locations[1].pk).update(trade_name=domain_a.entity.legal_name)
    assert objects("SEP-003", domain_a) == {ref(ad), ref(domain_a.locations[1])}


def test_sep_003_pc_names_and_withdrawn_ads(domain_a: World) -> None:
    ad = obj(domain_a, MarketingAsset, 1)
    MarketingAsset.objects.filter(pk=ad.pk).update(
        brand_name=domain_a.entity.legal_name, state=ReviewState.WITHDRAWN
    )
    assert objects("SEP-003", domain_a) == set()


# --- credentials --------------------------------------------------------------------------------------


def rn_with_appointment(world: World) -> tuple[Provider, Appointment]:
    appointment = obj(world, Appointment)  # in three days, with the first PC's RN
    return appointment.provider, appointment


def test_lic_001_scheduled_after_the_licence_lapsed(domain_a: World) -> None:
    rn, _ = rn_with_appointment(domain_a)
    Provider.objects.filter(pk=rn.pk).update(license_expires_on=days(-10))
    revoked = obj(domain_a, Provider, 3)  # the second PC's RN, booked in three days too
    Provider.objects.filter(pk=revoked.pk).update(license_status=LicenseStatus.REVOKED)
    assert objects("LIC-001", domain_a) == {ref(rn), ref(revoked)}
    hit = next(h for h in run("LIC-001", domain_a.tenant) if h["object_id"] == rn.pk)
    assert hit["evidence"]["first_appointment_while_lapsed"] == str(
        timezone.localdate(obj(domain_a, Appointment).starts_at)
    )


def test_lic_001_a_lapsed_licence_with_nothing_booked(domain_a: World) -> None:
    rn, appointment = rn_with_appointment(domain_a)
    Provider.objects.filter(pk=rn.pk).update(license_expires_on=days(-10))
    Appointment.objects.filter(pk=appointment.pk).update(status=Appointment.Status.CANCELLED)
    # Booked before the licence lapsed: seen then, fine.
    f.AppointmentFactory.create(
        tenant=domain_a.tenant,
        location=domain_a.locations[0],
        provider=rn,
        starts_at=timezone.now() - dt.timedelta(days=20),
        status=Appointment.Status.COMPLETED,
    )
    assert objects("LIC-001", domain_a) == set()


@pytest.mark.parametrize(
    ("in_days", "severity"),
    [(0, "high"), (20, "high"), (45, "medium"), (60, "medium"), (80, "low"), (90, "low")],
)
def test_lic_002_licence_expiring_graded_by_proximity(domain_a: World, in_days: int, severity: str) -> None:
    provider = obj(domain_a, Provider)
    Provider.objects.filter(pk=provider.pk).update(license_expires_on=days(in_days))
    hit = only("LIC-002", domain_a)
    assert (hit["object_id"], hit["discriminator"], hit["severity"]) == (provider.pk, "license", severity)
    assert hit["evidence"]["days_left"] == in_days


def test_lic_002_every_credential_is_its_own_finding(domain_a: World) -> None:
    np = f.ProviderFactory.create(
        tenant=domain_a.tenant,
        pc=domain_a.pcs[0],
        license_type=LicenseType.NP,
        np_furnishing_number="95012",
        np_furnishing_expires_on=days(50),
        cures_expires_on=days(10),
        dea_number="MN1234563",
        dea_expires_on=days(85),
    )
    pa = f.ProviderFactory.create(
        tenant=domain_a.tenant,
        pc=domain_a.pcs[1],
        license_type=LicenseType.PA,
        pa_practice_agreement_expires_on=days(30),
    )
    found = {(h["object_id"], h["discriminator"], h["severity"]) for h in run("LIC-002", domain_a.tenant)}
    assert found == {
        (np.pk, "np_furnishing_number", "medium"),
        (np.pk, "cures_registration", "high"),
        (np.pk, "dea_registration", "low"),
        (pa.pk, "pa_practice_agreement", "high"),
    }


def test_lic_002_far_off_lapsed_inactive_or_without_a_dea_number(domain_a: World) -> None:
    first, second = obj(domain_a, Provider), obj(domain_a, Provider, 1)
    Provider.objects.filter(pk=first.pk).update(license_expires_on=days(91))
    Provider.objects.filter(pk=second.pk).update(license_expires_on=days(-1))  # LIC-001's concern
    f.ProviderFactory.create(tenant=domain_a.tenant, pc=domain_a.pcs[0], dea_expires_on=days(20))
    f.ProviderFactory.create(
        tenant=domain_a.tenant, pc=domain_a.pcs[0], license_expires_on=days(10), active=False
    )
    assert objects("LIC-002", domain_a) == set()


def test_lic_003_booked_on_a_day_the_licence_will_be_lapsed(domain_a: World) -> None:
    rn, appointment = rn_with_appointment(domain_a)
    Provider.objects.filter(pk=rn.pk).update(license_expires_on=days(1))
    hit = only("LIC-003", domain_a)
    assert (hit["object_type"], hit["object_id"]) == ("management.Appointment", appointment.pk)
    assert (hit["pc_id"], hit["location_id"]) == (appointment.location.pc_id, appointment.location_id)


def test_lic_003_valid_through_the_expiry_day_and_past_or_cancelled_visits(domain_a: World) -> None:
    rn, appointment = rn_with_appointment(domain_a)
    Provider.objects.filter(pk=rn.pk).update(license_expires_on=timezone.localdate(appointment.starts_at))
    assert objects("LIC-003", domain_a) == set()
    Provider.objects.filter(pk=rn.pk).update(license_status=LicenseStatus.INACTIVE)
    assert objects("LIC-003", domain_a) == {ref(appointment)}
    Appointment.objects.filter(pk=appointment.pk).update(status=Appointment.Status.CANCELLED)
    assert objects("LIC-003", domain_a) == set()


# --- advertising --------------------------------------------------------------------------------------


def test_adv_001_approval_voided_by_an_edit(domain_a: World) -> None:
    queued, published = obj(domain_a, MarketingAsset), obj(domain_a, MarketingAsset, 1)
    MarketingAsset.objects.filter(pk=queued.pk).update(body="Now with painless injections.")
    MarketingAsset.objects.filter(pk=published.pk).update(
        state=ReviewState.PUBLISHED, published_at=timezone.now()
    )
    # The service moves an edited published asset back to the queue; the old version is out there.
    MarketingAsset.objects.filter(pk=published.pk).update(
        body="Edited after publishing.", state=ReviewState.SUBMITTED
    )
    by_id = {h["object_id"]: h for h in run("ADV-001", domain_a.tenant)}
    assert set(by_id) == {queued.pk, published.pk}
    assert by_id[queued.pk]["severity"] == "high"
    assert by_id[published.pk]["severity"] is None  # the rule's own: critical
    assert by_id[published.pk]["evidence"]["approved_hash"] != by_id[published.pk]["evidence"]["content_hash"]


def test_adv_001_published_as_approved_or_rejected_then_edited(domain_a: World) -> None:
    asset = obj(domain_a, MarketingAsset)
    MarketingAsset.objects.filter(pk=asset.pk).update(
        state=ReviewState.PUBLISHED, published_at=timezone.now()
    )
    other = obj(domain_a, MarketingAsset, 1)
    MarketingAsset.objects.filter(pk=other.pk).update(decision=Decision.REJECTED)
    MarketingAsset.objects.filter(pk=other.pk).update(body="Rewritten after the rejection.")
    assert objects("ADV-001", domain_a) == set()


def live_ad(world: World, body: str, **kwargs: Any) -> MarketingAsset:
    asset = f.MarketingAssetFactory.create(
        tenant=world.tenant, pc=world.pcs[0], body=body, created_by=world.user("mso_staff"), **kwargs
    )
    MarketingAsset.objects.filter(pk=asset.pk).update(
        state=ReviewState.SUBMITTED, submitted_by=world.user("mso_staff"), submitted_at=timezone.now()
    )
    asset.refresh_from_db()
    return asset


def test_adv_002_claims_are_flagged_with_the_phrases_that_matched(domain_a: World) -> None:
    claims = live_ad(domain_a, "The BEST Botox in town: guaranteed results, pain-free, zero downtime!")
    price = live_ad(domain_a, "Lip filler now $450 per syringe.")
    fda = live_ad(domain_a, "Our FDA-approved laser is risk-free.")
    testimonial = live_ad(domain_a, '"Life changing!" said Ana.', is_testimonial=True)
    by_id = {h["object_id"]: h["evidence"]["matched"] for h in run("ADV-002", domain_a.tenant)}
    assert set(by_id) == {claims.pk, price.pk, fda.pk, testimonial.pk}
    assert by_id[claims.pk] == {
        "superlative": "BEST",
        "guarantee": "guaranteed",
        "painless": "pain-free",
        "no_downtime": "zero downtime",
    }
    assert by_id[price.pk] == {"price_without_terms": "$450"}
    assert by_id[fda.pk] == {"fda_approved": "FDA-approved", "risk_free": "risk-free"}
    assert by_id[testimonial.pk] == {"testimonial_without_disclosure": "testimonial"}


def test_adv_002_qualified_claims_drafts_and_returned_ads_pass(domain_a: World) -> None:
    live_ad(domain_a, "Lip filler $450 per syringe. Offer ends June 30; terms apply. Results vary.")
    live_ad(domain_a, '"Life changing!" said Ana.', is_testimonial=True, testimonial_disclosure="Paid model.")
    live_ad(domain_a, "Minimal downtime; most clients return to work the next day.")
    f.MarketingAssetFactory.create(
        tenant=domain_a.tenant,
        pc=domain_a.pcs[0],
        body="Guaranteed results!",
        created_by=domain_a.user("mso_staff"),
    )  # a draft
    rejected = live_ad(domain_a, "The best injector, guaranteed.")
    MarketingAsset.objects.filter(pk=rejected.pk).update(
        decision=Decision.REJECTED, decision_hash=rejected.content_hash
    )
    assert objects("ADV-002", domain_a) == set()


def test_adv_003_altered_unlabelled_or_undescribed_images(domain_a: World) -> None:
    asset = obj(domain_a, MarketingAsset)
    altered = obj(domain_a, MarketingImage)
    MarketingImage.objects.filter(pk=altered.pk).update(altered=True)
    model = f.MarketingImageFactory.create(
        tenant=domain_a.tenant,
        asset=asset,
        kind=MarketingImage.Kind.BEFORE_AFTER_MODEL,
        labelled_as_model=False,
    )
    patient = f.MarketingImageFactory.create(
        tenant=domain_a.tenant,
        asset=asset,
        kind=MarketingImage.Kind.BEFORE_AFTER_PATIENT,
        procedures_shown="",
    )
    by_id = {h["object_id"]: h["evidence"]["problems"] for h in run("ADV-003", domain_a.tenant)}
    assert by_id == {
        altered.pk: ["altered"],
        model.pk: ["model_not_labelled"],
        patient.pk: ["procedures_not_stated", "patient_not_identified"],
    }


def test_adv_003_labelled_and_described_images_and_drafts_pass(domain_a: World) -> None:
    asset = obj(domain_a, MarketingAsset)
    client = f.ClientFactory.create(tenant=domain_a.tenant, home_location=domain_a.locations[0])
    f.MarketingImageFactory.create(
        tenant=domain_a.tenant,
        asset=asset,
        kind=MarketingImage.Kind.BEFORE_AFTER_MODEL,
        labelled_as_model=True,
    )
    f.MarketingImageFactory.create(
        tenant=domain_a.tenant,
        asset=asset,
        kind=MarketingImage.Kind.BEFORE_AFTER_PATIENT,
        procedures_shown="Neurotoxin, glabella",
        client=client,
    )
    draft = f.MarketingAssetFactory.create(
        tenant=domain_a.tenant, pc=domain_a.pcs[0], created_by=domain_a.user("mso_staff")
    )
    f.MarketingImageFactory.create(tenant=domain_a.tenant, asset=draft, altered=True)
    assert objects("ADV-003", domain_a) == set()


def test_adv_004_brand_without_a_permit(domain_a: World) -> None:
    ad = live_ad(domain_a, "Spring refresh. Results vary.", brand_name="Radiance Aesthetics")
    expired = f.FictitiousNamePermitFactory.create(
        tenant=domain_a.tenant, pc=domain_a.pcs[1], fictitious_name="Halo Skin", expires_on=days(-1)
    )
    lapsed = f.MarketingAssetFactory.create(
        tenant=domain_a.tenant,
        pc=domain_a.pcs[1],
        brand_name=expired.fictitious_name,
        created_by=domain_a.user("mso_staff"),
    )
    approve_as_owner(lapsed, domain_a.user("pc_physician"), submitter=domain_a.user("mso_staff"))
    assert objects("ADV-004", domain_a) == {ref(ad), ref(lapsed)}


def test_adv_004_permitted_and_own_names(domain_a: World) -> None:
    permit = obj(domain_a, FictitiousNamePermit)
    live_ad(domain_a, "Spring refresh. Results vary.", brand_name=permit.fictitious_name.lower())
    ProfessionalCorporation.objects.filter(pk=domain_a.pcs[0].pk).update(physician_name="Ana Rivera")
    live_ad(domain_a, "Spring refresh. Results vary.", brand_name="Ana Rivera")
    assert objects("ADV-004", domain_a) == set()


# --- HIPAA, OSHA and operations ---------------------------------------------------------------------


def test_baa_001_phi_vendor_without_a_baa_in_force(domain_a: World) -> None:
    none = f.VendorFactory.create(tenant=domain_a.tenant, handles_phi=True)
    lapsed = f.VendorFactory.create(tenant=domain_a.tenant, handles_phi=True)
    f.BusinessAssociateAgreementFactory.create(
        tenant=domain_a.tenant, vendor=lapsed, signed_on=days(-800), expires_on=days(-5)
    )
    assert objects("BAA-001", domain_a) == {ref(none), ref(lapsed)}
    hit = next(h for h in run("BAA-001", domain_a.tenant) if h["object_id"] == lapsed.pk)
    assert hit["evidence"]["last_baa_expires_on"] == str(days(-5))


def test_baa_001_vendors_without_phi_or_with_a_current_baa(domain_a: World) -> None:
    f.VendorFactory.create(tenant=domain_a.tenant, handles_phi=False)
    vendor = obj(domain_a, Vendor)
    BusinessAssociateAgreement.objects.filter(vendor=vendor).update(expires_on=TODAY)
    assert objects("BAA-001", domain_a) == set()


def test_hip_002_no_or_outdated_hipaa_training(domain_a: World) -> None:
    never = f.StaffMemberFactory.create(tenant=domain_a.tenant, employer=domain_a.entity, hired_on=days(-200))
    f.TrainingRecordFactory.create(
        tenant=domain_a.tenant, staff_member=never, kind=TrainingRecord.Kind.IIPP, completed_on=days(-20)
    )
    outdated = obj(domain_a, StaffMember)
    TrainingRecord.objects.filter(staff_member=outdated).update(completed_on=days(-366))
    assert objects("HIP-002", domain_a) == {ref(never), ref(outdated)}


def test_hip_002_new_hires_and_former_staff(domain_a: World) -> None:
    f.StaffMemberFactory.create(tenant=domain_a.tenant, employer=domain_a.entity, hired_on=days(-10))
    f.StaffMemberFactory.create(
        tenant=domain_a.tenant, employer=domain_a.entity, hired_on=days(-700), left_on=days(-100)
    )
    TrainingRecord.objects.filter(staff_member=obj(domain_a, StaffMember)).update(completed_on=days(-364))
    assert objects("HIP-002", domain_a) == set()


def test_osh_001_exposed_staff_without_bloodborne_pathogen_training(domain_a: World) -> None:
    exposed = obj(domain_a, StaffMember)
    StaffMember.objects.filter(pk=exposed.pk).update(exposure_risk=True)  # trained on HIPAA only
    assert objects("OSH-001", domain_a) == {ref(exposed)}
    f.TrainingRecordFactory.create(
        tenant=domain_a.tenant,
        staff_member=exposed,
        kind=TrainingRecord.Kind.BLOODBORNE_PATHOGENS,
        completed_on=days(-100),
    )
    assert objects("OSH-001", domain_a) == set()


def test_wst_001_sharps_without_a_current_registration(domain_a: World) -> None:
    loc0, loc1 = domain_a.locations
    MedicalWasteRegistration.objects.filter(location=loc0).update(expires_on=days(-1))
    MedicalWasteRegistration.objects.filter(location=loc1).delete()
    assert objects("WST-001", domain_a) == {ref(loc0), ref(loc1)}
    hit = next(h for h in run("WST-001", domain_a.tenant) if h["object_id"] == loc0.pk)
    assert (hit["pc_id"], hit["location_id"]) == (loc0.pc_id, loc0.pk)


def test_wst_001_no_sharps_no_registration_needed(domain_a: World) -> None:
    location = domain_a.locations[1]
    MedicalWasteRegistration.objects.filter(location=location).delete()
    Location.objects.filter(pk=location.pk).update(generates_sharps=False)
    assert objects("WST-001", domain_a) == set()


def test_eqp_001_laser_overdue_or_never_serviced(domain_a: World) -> None:
    overdue = obj(domain_a, Equipment)  # a laser, 180-day interval
    EquipmentService.objects.filter(equipment=overdue).update(serviced_on=days(-181))
    never = f.EquipmentFactory.create(
        tenant=domain_a.tenant, location=domain_a.locations[1], kind=Equipment.Kind.IPL
    )
    by_id = {h["object_id"]: h for h in run("EQP-001", domain_a.tenant)}
    assert set(by_id) == {overdue.pk, never.pk}
    assert by_id[overdue.pk]["evidence"]["days_since_service"] == 181
    assert by_id[never.pk]["evidence"]["last_service_on"] is None


def test_eqp_001_inside_the_interval_and_other_devices(domain_a: World) -> None:
    EquipmentService.objects.filter(equipment=obj(domain_a, Equipment)).update(serviced_on=days(-180))
    f.EquipmentFactory.create(
        tenant=domain_a.tenant, location=domain_a.locations[0], kind=Equipment.Kind.MICRONEEDLING
    )
    assert objects("EQP-001", domain_a) == set()


def test_lab_001_waived_tests_without_a_waiver_or_director(domain_a: World) -> None:
    location = domain_a.locations[0]
    Location.objects.filter(pk=location.pk).update(
        runs_waived_lab_tests=True, clia_waiver_number="05D1234567"
    )
    hit = only("LAB-001", domain_a)
    assert (hit["object_id"], hit["evidence"]["problems"]) == (location.pk, ["no_lab_director"])
    Location.objects.filter(pk=location.pk).update(lab_director="Dr. Ana Rivera")
    assert objects("LAB-001", domain_a) == set()


# --- the demo tenant ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeded(django_db_setup: None, django_db_blocker: Any) -> Iterator[Tenant]:
    """One demo tenant for the module's demo tests, rolled back at the end of the module."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield seed_demo().tenant
        transaction.set_rollback(True)


@pytest.fixture
def demo(seeded: Tenant) -> Tenant:
    with connection.cursor() as cur:  # read as the owner, RLS pointed at the demo tenant
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", [str(seeded.pk)])
    return seeded


def test_demo_seed_problems_are_found_on_their_rows_and_nothing_else(demo: Tenant) -> None:
    tenant = demo
    vasquez_msa = ManagementServicesAgreement.objects.get(title__endswith="La Jolla and Del Mar")
    laguna_msa = ManagementServicesAgreement.objects.get(title__endswith="Laguna Beach")
    oc_msa = ManagementServicesAgreement.objects.get(title__endswith="Newport Beach")
    vasquez = ManagementFeeInvoice.objects.filter(msa=vasquez_msa)

    def vasquez_invoice(back: int) -> tuple[str, Any]:
        return ref(vasquez.get(period_start=month_start(TODAY, back)))

    # Laguna's invoices are 17% of collections: those more than 1% away from the fixed $30,000.
    laguna_off = {
        ref(i)
        for i in ManagementFeeInvoice.objects.filter(msa=laguna_msa)
        if abs(i.amount - Decimal("30000.00")) > Decimal("300.00")
    }
    assert len(laguna_off) >= 6
    jamie = Provider.objects.get(full_name="Jamie Ortiz")
    summer = MarketingAsset.objects.get(title="Summer glow IPL special")
    expected: dict[str, set[tuple[str, Any]]] = {
        "CPOM-001": {ref(ProfessionalCorporation.objects.get(legal_name="Okafor Medical Corporation"))},
        # The Laguna MSA's missing clause is both a required clause (MSA-002) and CPOM-003's substance.
        "CPOM-003": {ref(laguna_msa)},
        "MSA-002": {ref(laguna_msa)},
        "MSA-003": {ref(oc_msa)},
        "MSA-004": {ref(oc_msa)},
        # The odd invoice nine months ago, the four at the unamended $41,500, and Laguna's.
        "FEE-001": {vasquez_invoice(b) for b in (9, 4, 3, 2, 1)} | laguna_off,
        "FEE-002": {ref(laguna_msa)},
        "FEE-003": {vasquez_invoice(4)},
        "FEE-004": {ref(Vendor.objects.get(name="LeadSpark Media"))},
        "SEP-002": {
            ref(
                PatientPayment.objects.get(
                    deposited_to__mso_entity__isnull=False, kind=PatientPayment.Kind.MEDICAL_SERVICE
                )
            )
        },
        "LIC-001": {ref(jamie)},
        "LIC-002": {ref(Provider.objects.get(full_name="Kelsey Tran"))},
        "LIC-003": {ref(Appointment.objects.get(provider=jamie, starts_at__gte=timezone.now()))},
        "ADV-001": {ref(summer)},
        "ADV-002": {ref(summer)},
        "BAA-001": {ref(Vendor.objects.get(name="SnapBook Scheduling Inc."))},
        "HIP-002": {ref(StaffMember.objects.get(full_name="Tyler Nguyen"))},
        "WST-001": {ref(Location.objects.get(name="Golden Coast Med Spa Newport Beach"))},
        "EQP-001": {ref(Equipment.objects.get(model_name="excel V"))},
    }
    deliberate = {p.rule for p in DELIBERATE_PROBLEMS if p.rule in BUSINESS_RULES}
    assert deliberate <= set(expected), deliberate - set(expected)
    found: dict[str, list[dict[str, Any]]] = {}
    for rule_id in BUSINESS_RULES:
        found[rule_id] = run(rule_id, tenant)
        for row in found[rule_id]:
            assert tuple(row) == HIT_KEYS and isinstance(row["evidence"], dict), (rule_id, row)
        assert {(h["object_type"], h["object_id"]) for h in found[rule_id]} == expected.get(rule_id, set()), (
            rule_id
        )
    (kelsey,) = found["LIC-002"]
    assert (kelsey["discriminator"], kelsey["severity"], kelsey["evidence"]["days_left"]) == (
        "license",
        "high",
        20,
    )
    (summer_claims,) = found["ADV-002"]
    assert set(summer_claims["evidence"]["matched"]) == {"painless", "no_downtime"}
    (summer_approval,) = found["ADV-001"]
    assert summer_approval["severity"] == "high"  # edited while waiting, never published
    assert found["CPOM-001"][0]["evidence"]["lay_holders"] == ["Marcus Bell"]
    assert found["MSA-003"][0]["severity"] is None  # no FMV opinion, no counsel review: high


def test_demo_pc_scoped_runs_report_exactly_that_pcs_findings(demo: Tenant) -> None:
    """Every branch of a PC-scoped rule narrows to RuleInput.pc_ids, and its hits name that PC."""
    for pc in ProfessionalCorporation.objects.filter(tenant=demo):
        for rule_id in BUSINESS_RULES:
            if not REGISTRY.get(rule_id).scoped_by_pc:
                continue
            everything = sorted(run(rule_id, demo), key=finding)
            scoped = sorted(run(rule_id, demo, pc_ids=(pc.pk,)), key=finding)
            assert scoped == [h for h in everything if h["pc_id"] == pc.pk], (rule_id, pc.legal_name)


def test_demo_object_narrowed_runs_report_exactly_those_objects_findings(demo: Tenant) -> None:
    """A rule that narrows change runs by object (Rule.narrows) honours RuleInput.object_ids: its
    hits about the objects named, each as a full run reports it, and nothing about any other."""
    narrowing = [rule_id for rule_id in BUSINESS_RULES if REGISTRY.get(rule_id).narrows]
    assert {"LIC-001", "LIC-002", "LIC-003", "SEP-002"} <= set(narrowing)
    planted = 0
    for rule_id in narrowing:
        everything = sorted(run(rule_id, demo), key=finding)
        assert run(rule_id, demo, object_ids=()) == [], rule_id
        for row in everything:
            planted += 1
            scoped = sorted(run(rule_id, demo, object_ids=(row["object_id"],)), key=finding)
            assert scoped == [h for h in everything if h["object_id"] == row["object_id"]], rule_id
    assert planted  # the demo plants lapsed and expiring credentials


def test_demo_rules_run_as_the_business_role_with_the_same_hits(demo: Tenant, as_ctx: ActAs) -> None:
    """The business role has no privilege on schema clinical and RLS applies: every business rule
    runs there (no clinical table read) and sees what the owner sees."""
    as_owner = {rule_id: run(rule_id, demo) for rule_id in BUSINESS_RULES}
    compliance_officer = Membership.objects.get(tenant=demo, capacity="mso_compliance")
    with as_ctx(AccessContext.for_membership(compliance_officer, via="task")):
        with connection.cursor() as cur:
            cur.execute("SELECT current_user")
            assert cur.fetchone() == (CAPACITIES["mso_compliance"].db_role,)
        for rule_id in BUSINESS_RULES:
            assert sorted(run(rule_id, demo), key=finding) == sorted(as_owner[rule_id], key=finding), rule_id
