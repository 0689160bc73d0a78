"""The per-state procedure scope table (DEL-001): who may perform what, on which conditions.

``scope_rules_seed`` writes California's table from RULES.md "Scope of practice and delegation".
The citations are data so counsel can correct them; a tenant's PC physicians may adjust a rule
(e.g. allow LVN injections, which default to not allowed); clinicians only read the table.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from clinical.models import ProcedureScopeRule
from clinical.services.charts import UNSET, Maybe, changes_of, set_fields, text
from management.procedures import LicenseType, Procedure
from tenants.access import AccessContext
from tenants.capacities import ADD, CHANGE
from tenants.models import Tenant
from tenants.writes import clean_state, require_may, save_validated

Supervision = ProcedureScopeRule.Supervision

_STATES = "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY"
US_STATES = frozenset((_STATES + " NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY").split(" "))
# Who edits the table: the PC's physicians decide on delegation (CPOM-003), clinicians follow it.
EDITOR_CAPACITY = "pc_physician"


@dataclass(frozen=True)
class Seed:
    allowed: bool
    supervision: str
    requires_good_faith_exam: bool
    citation: str
    note: str = ""


FAQ = "Medical Board of California, Cosmetic Treatments FAQ"
INJECTIONS = (Procedure.NEUROTOXIN, Procedure.DERMAL_FILLER)
# Laser/IPL, and the other medical procedures RULES.md treats like them (medical peels, microneedling).
LASER_LIKE = (
    Procedure.LASER_HAIR_REMOVAL,
    Procedure.IPL_PHOTOFACIAL,
    Procedure.LASER_RESURFACING,
    Procedure.MEDICAL_PEEL,
    Procedure.MICRONEEDLING,
)
NON_MEDICAL = (Procedure.SUPERFICIAL_PEEL, Procedure.FACIAL)
# The license types the table speaks about (the others never treat patients here).
TABLE_LICENSES = (
    LicenseType.MD,
    LicenseType.DO,
    LicenseType.NP,
    LicenseType.PA,
    LicenseType.RN,
    LicenseType.LVN,
    LicenseType.MA,
    LicenseType.ESTHETICIAN,
)

NEVER_MEDICAL = Seed(
    False,
    Supervision.NONE,
    True,
    f"B&P 2052; {FAQ}",
    "Medical procedure: not within this license, whatever the supervision.",
)
LVN_DEFAULT = Seed(
    False,
    Supervision.NONE,
    True,
    f"B&P 2860.5; {FAQ}",
    "Tenant setting, default not allowed: the Board names only physicians, RNs and PAs; B&P 2860.5 "
    "lets LVNs inject on a physician's direction in general. A PC physician may allow it.",
)


def _california() -> dict[tuple[str, str], Seed]:
    table: dict[tuple[str, str], Seed] = {}
    physician = Seed(True, Supervision.NONE, True, f"B&P 2052; {FAQ}", "Physicians perform independently.")
    for procedure in INJECTIONS:
        table |= {
            (procedure, LicenseType.MD): physician,
            (procedure, LicenseType.DO): physician,
            (procedure, LicenseType.PA): Seed(
                True,
                Supervision.PROTOCOL,
                True,
                f"B&P 3502.3; {FAQ}",
                "Under a signed practice agreement with a supervising physician.",
            ),
            (procedure, LicenseType.NP): Seed(
                True,
                Supervision.PROTOCOL,
                True,
                f"B&P 2836.1; {FAQ}",
                "Under standardized procedures (or independently as a 103/104 NP, B&P 2837.103/2837.104).",
            ),
            (procedure, LicenseType.RN): Seed(
                True,
                Supervision.ORDER,
                True,
                f"B&P 2725; {FAQ}",
                "Only on a prescriber's order under a standardized procedure with physician supervision, "
                "after a good-faith exam by a physician, NP or PA.",
            ),
            (procedure, LicenseType.LVN): LVN_DEFAULT,
            (procedure, LicenseType.MA): NEVER_MEDICAL,
            (procedure, LicenseType.ESTHETICIAN): NEVER_MEDICAL,
        }
    for procedure in LASER_LIKE:
        supervised = {
            LicenseType.PA: f"B&P 3502.3; {FAQ}",
            LicenseType.NP: f"B&P 2836.1; {FAQ}",
            LicenseType.RN: f"B&P 2725; {FAQ}",
        }
        table |= {
            (procedure, LicenseType.MD): physician,
            (procedure, LicenseType.DO): physician,
            **{
                (procedure, license_type): Seed(
                    True,
                    Supervision.PROTOCOL,
                    True,
                    citation,
                    "With physician supervision under a signed protocol (B&P 2023.5 directs the Board "
                    "to set supervision and training).",
                )
                for license_type, citation in supervised.items()
            },
            (procedure, LicenseType.LVN): Seed(
                False,
                Supervision.NONE,
                True,
                f"B&P 2052; {FAQ}",
                "Not allowed by default; a PC physician may change this tenant setting.",
            ),
            (procedure, LicenseType.MA): NEVER_MEDICAL,
            (procedure, LicenseType.ESTHETICIAN): NEVER_MEDICAL,
        }
    clinician = Seed(
        True,
        Supervision.NONE,
        False,
        f"{FAQ}; B&P 7319 (verify)",
        "Non-medical, epidermis only: within a healing-arts license.",
    )
    for procedure in NON_MEDICAL:
        table |= {
            (procedure, license_type): clinician
            for license_type in (
                LicenseType.MD,
                LicenseType.DO,
                LicenseType.NP,
                LicenseType.PA,
                LicenseType.RN,
            )
        }
        table |= {
            (procedure, LicenseType.ESTHETICIAN): Seed(
                True,
                Supervision.NONE,
                False,
                f"{FAQ}; B&P 7316 (verify)",
                "Licensed estheticians: non-medical facials and peels limited to the epidermis.",
            ),
            (procedure, LicenseType.LVN): Seed(
                False, Supervision.NONE, False, f"{FAQ}; B&P 7316 (verify)", "Needs an esthetician license."
            ),
            (procedure, LicenseType.MA): Seed(
                False, Supervision.NONE, False, f"{FAQ}; B&P 7316 (verify)", "Needs an esthetician license."
            ),
        }
    return table


SEED_TABLES = {"CA": _california()}


@transaction.atomic
def scope_rules_seed(*, tenant: Tenant, state: str = "CA") -> list[ProcedureScopeRule]:
    """Write the state's scope table for `tenant` from RULES.md; returns the rules created.

    Idempotent: a rule the tenant already has (maybe adjusted by its physicians) is left as it is.
    The caller runs inside the tenant's context (a seed, a migration of a new tenant).
    """
    state = clean_state(state)
    if state not in SEED_TABLES:
        raise ValidationError({"state": f"There is no scope table for {state} yet (California only)."})
    existing = set(
        ProcedureScopeRule.objects.filter(tenant=tenant, state=state).values_list("procedure", "license_type")
    )
    created = [
        ProcedureScopeRule(
            tenant=tenant,
            state=state,
            procedure=procedure,
            license_type=license_type,
            allowed=seed.allowed,
            supervision=seed.supervision,
            requires_good_faith_exam=seed.requires_good_faith_exam,
            citation=seed.citation,
            note=seed.note,
        )
        for (procedure, license_type), seed in SEED_TABLES[state].items()
        if (procedure, license_type) not in existing
    ]
    return ProcedureScopeRule.objects.bulk_create(created)


def _require_editor(ctx: AccessContext, action: str) -> None:
    require_may(ctx, ProcedureScopeRule, action)
    if ctx.capacity.code != EDITOR_CAPACITY:
        # Answered like a wrong capacity (404): clinicians read the table, physicians set it.
        raise PermissionDenied("No such object.")


def _check_rule(rule: ProcedureScopeRule) -> None:
    if not rule.allowed and rule.supervision != Supervision.NONE:
        raise ValidationError({"supervision": "A procedure that is not allowed has no supervision level."})


def _state(value: str) -> str:
    state = clean_state(value)
    if state not in US_STATES:
        raise ValidationError({"state": f"{state} is not a US state code."})
    return state


@transaction.atomic
def scope_rule_create(
    *,
    ctx: AccessContext,
    state: str,
    procedure: str,
    license_type: str,
    allowed: bool,
    citation: str,
    supervision: str = Supervision.NONE,
    requires_good_faith_exam: bool = True,
    note: str = "",
) -> ProcedureScopeRule:
    """Add a rule to the table (a PC physician only): may `license_type` perform `procedure` in `state`."""
    _require_editor(ctx, ADD)
    state = _state(state)
    if ProcedureScopeRule.objects.filter(
        tenant=ctx.tenant, state=state, procedure=procedure, license_type=license_type
    ).exists():
        raise ValidationError({"license_type": "This state, procedure and license type already have a rule."})
    rule = ProcedureScopeRule(
        tenant=ctx.tenant,
        state=state,
        procedure=procedure,
        license_type=license_type,
        allowed=allowed,
        supervision=supervision,
        requires_good_faith_exam=requires_good_faith_exam,
        citation=text(citation, "citation"),
        note=note.strip(),
    )
    _check_rule(rule)
    save_validated(rule)
    return rule


@transaction.atomic
def scope_rule_update(
    *,
    ctx: AccessContext,
    rule: ProcedureScopeRule,
    state: Maybe[str] = UNSET,
    procedure: Maybe[str] = UNSET,
    license_type: Maybe[str] = UNSET,
    allowed: Maybe[bool] = UNSET,
    supervision: Maybe[str] = UNSET,
    requires_good_faith_exam: Maybe[bool] = UNSET,
    citation: Maybe[str] = UNSET,
    note: Maybe[str] = UNSET,
) -> ProcedureScopeRule:
    """Adjust a rule (a PC physician only), or correct what it is about (state, procedure, license)."""
    _require_editor(ctx, CHANGE)
    values = changes_of(
        {
            "state": state,
            "procedure": procedure,
            "license_type": license_type,
            "allowed": allowed,
            "supervision": supervision,
            "requires_good_faith_exam": requires_good_faith_exam,
            "citation": citation,
            "note": note,
        }
    )
    if "state" in values:
        values["state"] = _state(values["state"])
    if "citation" in values:
        values["citation"] = text(values["citation"], "citation")
    if "note" in values:
        values["note"] = values["note"].strip()
    if values.get("allowed") is False and "supervision" not in values:
        values["supervision"] = Supervision.NONE  # withdrawing a permission withdraws its conditions
    changed = set_fields(rule, values)
    if {"state", "procedure", "license_type"} & set(changed) and (
        ProcedureScopeRule.objects.filter(
            tenant=ctx.tenant, state=rule.state, procedure=rule.procedure, license_type=rule.license_type
        )
        .exclude(pk=rule.pk)
        .exists()
    ):
        raise ValidationError({"license_type": "This state, procedure and license type already have a rule."})
    _check_rule(rule)
    if changed:
        save_validated(rule, changed)
    return rule
