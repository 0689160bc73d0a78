"""The procedure scope table (DEL-001): California's seeded from RULES.md, answers its cases, is
adjusted by PC physicians only and read by every clinical capacity, never by a business one."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from clinical import selectors
from clinical.models import ProcedureScopeRule
from clinical.services import scope_rule_create, scope_rule_update, scope_rules_seed
from clinical.services.scope import US_STATES
from management.procedures import MEDICAL_PROCEDURES, LicenseType, Procedure
from tests.api_matrix import call, client_for, issue_keys
from tests.conftest import acting_as
from tests.worlds import World

pytestmark = pytest.mark.django_db
Supervision = ProcedureScopeRule.Supervision
L = LicenseType
P = Procedure

INJECTIONS = [P.NEUROTOXIN, P.DERMAL_FILLER]
LASER_LIKE = [P.LASER_HAIR_REMOVAL, P.IPL_PHOTOFACIAL, P.LASER_RESURFACING, P.MEDICAL_PEEL, P.MICRONEEDLING]

# RULES.md "Scope of practice and delegation", case by case: (allowed, supervision, GFE first, cited).
CASES: list[tuple[list[Any], Any, bool, Any, bool, str]] = [
    (INJECTIONS, L.MD, True, Supervision.NONE, True, "B&P 2052"),
    (INJECTIONS, L.DO, True, Supervision.NONE, True, "B&P 2052"),
    (INJECTIONS, L.PA, True, Supervision.PROTOCOL, True, "B&P 3502.3"),  # practice agreement
    (INJECTIONS, L.NP, True, Supervision.PROTOCOL, True, "B&P 2836.1"),  # standardized procedures
    (INJECTIONS, L.RN, True, Supervision.ORDER, True, "B&P 2725"),  # on order, after a GFE
    (INJECTIONS, L.LVN, False, Supervision.NONE, True, "B&P 2860.5"),  # tenant setting, default no
    (INJECTIONS, L.MA, False, Supervision.NONE, True, "Cosmetic Treatments FAQ"),
    (INJECTIONS, L.ESTHETICIAN, False, Supervision.NONE, True, "Cosmetic Treatments FAQ"),
    (LASER_LIKE, L.MD, True, Supervision.NONE, True, "B&P 2052"),
    (LASER_LIKE, L.PA, True, Supervision.PROTOCOL, True, "B&P 3502.3"),
    (LASER_LIKE, L.NP, True, Supervision.PROTOCOL, True, "B&P 2836.1"),
    (LASER_LIKE, L.RN, True, Supervision.PROTOCOL, True, "B&P 2725"),
    (LASER_LIKE, L.LVN, False, Supervision.NONE, True, "Cosmetic Treatments FAQ"),
    (LASER_LIKE, L.MA, False, Supervision.NONE, True, "Cosmetic Treatments FAQ"),
    (LASER_LIKE, L.ESTHETICIAN, False, Supervision.NONE, True, "Cosmetic Treatments FAQ"),
    ([P.SUPERFICIAL_PEEL, P.FACIAL], L.ESTHETICIAN, True, Supervision.NONE, False, "B&P 7316"),
    ([P.SUPERFICIAL_PEEL, P.FACIAL], L.MA, False, Supervision.NONE, False, "B&P 7316"),
]


def rule(world: World, procedure: str, license_type: str) -> ProcedureScopeRule:
    ctx = world.ctx("clinician")
    with acting_as(ctx):  # read as a clinician, through the selector the product uses
        found = selectors.scope_rule_for(ctx, state="CA", procedure=procedure, license_type=license_type)
    assert found is not None, (procedure, license_type)
    return found


@pytest.mark.parametrize(
    ("procedures", "license_type", "allowed", "supervision", "gfe", "cited"),
    CASES,
    ids=[f"{c[1]}-{c[0][0]}" for c in CASES],
)
def test_seeded_california_table_answers_the_rules(
    world_a: World,
    procedures: list[str],
    license_type: str,
    allowed: bool,
    supervision: str,
    gfe: bool,
    cited: str,
) -> None:
    scope_rules_seed(tenant=world_a.tenant)
    for procedure in procedures:
        found = rule(world_a, procedure, license_type)
        assert (found.allowed, found.supervision, found.requires_good_faith_exam) == (
            allowed,
            supervision,
            gfe,
        )
        assert cited in found.citation, found.citation
        assert "Cosmetic Treatments FAQ" in found.citation or procedure not in MEDICAL_PROCEDURES


def test_seed_covers_every_procedure_for_every_treating_license_and_is_idempotent(world_a: World) -> None:
    created = scope_rules_seed(tenant=world_a.tenant)
    procedures = set(Procedure.values) - {Procedure.CONSULTATION}
    licenses = {L.MD, L.DO, L.NP, L.PA, L.RN, L.LVN, L.MA, L.ESTHETICIAN}
    assert {(r.procedure, r.license_type) for r in created} == {(p, x) for p in procedures for x in licenses}
    assert {r.state for r in created} == {"CA"}
    # medical procedures are never allowed to MAs or estheticians; non-medical ones need no exam
    for r in created:
        if r.procedure in MEDICAL_PROCEDURES and r.license_type in {L.MA, L.ESTHETICIAN}:
            assert not r.allowed
        assert r.requires_good_faith_exam == (r.procedure in MEDICAL_PROCEDURES)
    # the physicians allow LVN injections; seeding again adds nothing and keeps their choice
    lvn = ProcedureScopeRule.objects.get(tenant=world_a.tenant, procedure=P.NEUROTOXIN, license_type=L.LVN)
    ctx = world_a.ctx("pc_physician")
    with acting_as(ctx):
        scope_rule_update(ctx=ctx, rule=lvn, allowed=True, supervision=Supervision.ORDER)
    assert scope_rules_seed(tenant=world_a.tenant) == []
    assert ProcedureScopeRule.objects.filter(tenant=world_a.tenant).count() == len(created)
    assert rule(world_a, P.NEUROTOXIN, L.LVN).allowed is True
    with pytest.raises(ValidationError):
        scope_rules_seed(tenant=world_a.tenant, state="TX")


def test_seed_writes_only_its_tenants_table(world_a: World, world_b: World) -> None:
    scope_rules_seed(tenant=world_a.tenant)
    assert not ProcedureScopeRule.objects.filter(tenant=world_b.tenant).exists()


def test_only_pc_physicians_adjust_the_table(world_a: World) -> None:
    scope_rules_seed(tenant=world_a.tenant)
    lvn = ProcedureScopeRule.objects.get(tenant=world_a.tenant, procedure=P.NEUROTOXIN, license_type=L.LVN)
    for capacity in ("clinician", "mso_admin", "mso_compliance", "auditor"):
        ctx = world_a.ctx(capacity)
        with pytest.raises(PermissionDenied):
            scope_rule_update(ctx=ctx, rule=lvn, allowed=True)
        with pytest.raises(PermissionDenied):
            scope_rule_create(
                ctx=ctx,
                state="NV",
                procedure=P.NEUROTOXIN,
                license_type=L.RN,
                allowed=True,
                citation="NRS 454.217",
            )
    lvn.refresh_from_db()
    assert lvn.allowed is False
    ctx = world_a.ctx("pc_physician")
    with acting_as(ctx):
        made = scope_rule_create(
            ctx=ctx,
            state="nv",
            procedure=P.NEUROTOXIN,
            license_type=L.RN,
            allowed=True,
            supervision=Supervision.ORDER,
            citation=" NRS 454.217 (verify) ",
        )
        assert (made.state, made.citation) == ("NV", "NRS 454.217 (verify)")
        bad: list[tuple[str, dict[str, Any]]] = [
            ("state", {"state": "ZZ"}),
            ("license_type", {"state": "NV"}),  # the same rule again
            ("supervision", {"state": "AZ", "allowed": False, "supervision": Supervision.ORDER}),
            ("citation", {"state": "AZ", "citation": "  "}),
        ]
        for field, change in bad:
            kwargs = {
                "procedure": P.NEUROTOXIN,
                "license_type": L.RN,
                "allowed": True,
                "citation": "x",
                **change,
            }
            with pytest.raises(ValidationError) as refused:
                scope_rule_create(ctx=ctx, **kwargs)
            assert field in refused.value.message_dict, (field, refused.value.message_dict)
        # withdrawing a permission withdraws its conditions
        scope_rule_update(ctx=ctx, rule=made, allowed=False)
    made.refresh_from_db()
    assert (made.allowed, made.supervision) == (False, Supervision.NONE)
    assert "ZZ" not in US_STATES


def test_api_clinicians_read_physicians_write_business_keys_see_nothing(world_a: World) -> None:
    scope_rules_seed(tenant=world_a.tenant)
    keys = issue_keys(world_a)
    lvn = ProcedureScopeRule.objects.get(tenant=world_a.tenant, procedure=P.NEUROTOXIN, license_type=L.LVN)
    url = f"/api/v1/procedure-scope-rules/{lvn.pk}/"
    clinician = client_for(keys["clinician"])
    listed = clinician.get("/api/v1/procedure-scope-rules/", {"procedure": "neurotoxin", "allowed": "true"})
    assert listed.status_code == 200
    assert {r["license_type"] for r in listed.json()["results"]} == {"MD", "DO", "NP", "PA", "RN"}
    assert call(clinician, "PATCH", url, {"allowed": True}).status_code == 404
    physician = client_for(keys["pc_physician"])
    changed = call(
        physician, "PATCH", url, {"allowed": True, "supervision": "order", "note": "Allowed by Dr. A"}
    )
    assert changed.status_code == 200 and changed.json()["allowed"] is True
    # what a rule is about can be corrected, never into a duplicate of another rule
    duplicate = call(physician, "PATCH", url, {"license_type": "RN"})
    assert duplicate.status_code == 400 and "already have a rule" in duplicate.json()["license_type"][0]
    moved = call(physician, "PATCH", url, {"state": "nv"})
    assert moved.status_code == 200 and (moved.json()["state"], moved.json()["license_type"]) == ("NV", "LVN")
    for capacity in ("mso_admin", "mso_staff", "mso_compliance", "auditor"):
        assert client_for(keys[capacity]).get("/api/v1/procedure-scope-rules/").status_code == 404
