"""API matrix entries of the clinical side: charts' records, protocols and the procedure scope table.

Payloads name objects of the first PC's chart the world already holds (the domain worlds of the
attack tests must not be written to by building a payload); a bare world (no ``objs``) gets the few
it lacks from factories. The actor of every clinical endpoint is the first PC's physician, whose
Provider is the first PC's MD in the domain world.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import models
from django.utils import timezone

from clinical.models import (
    AdverseEvent,
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
from clinical.services.scope import US_STATES
from management.models import Provider
from management.procedures import LicenseType, Procedure
from tenants.capacities import Side
from tests import factories as f
from tests.api_matrix import Endpoint
from tests.worlds import World

M = TypeVar("M", bound=models.Model)
_serial = itertools.count(1)
# Only PC physicians write the scope table (clinical/services/scope.py); clinicians' writes are 404.
_PHYSICIANS_WRITE: dict[str, Any] = (
    {"writers": frozenset({"pc_physician"})} if "writers" in Endpoint.__dataclass_fields__ else {}
)


def first(w: World, model: type[M], test: Callable[[M], bool], make: Callable[[], M]) -> M:
    found = [o for o in w.objs.get(model, []) if test(o)]
    return found[0] if found else make()


def chart(w: World) -> PatientChart:
    return w.charts[0]


def physician(w: World) -> Provider:
    """The first PC's MD (the world's physician membership in the domain world)."""
    return first(
        w,
        Provider,
        lambda p: p.pc_id == w.pcs[0].pk and p.license_type == LicenseType.MD,
        lambda: f.ProviderFactory.create(
            tenant=w.tenant, pc=w.pcs[0], license_type=LicenseType.MD, membership=w.members["pc_physician"]
        ),
    )


def nurse(w: World) -> Provider:
    return first(
        w,
        Provider,
        lambda p: p.pc_id == w.pcs[0].pk and p.license_type == LicenseType.RN,
        lambda: f.ProviderFactory.create(tenant=w.tenant, pc=w.pcs[0], license_type=LicenseType.RN),
    )


def treatment(w: World) -> Treatment:
    return first(
        w,
        Treatment,
        lambda t: t.chart_id == chart(w).pk,
        lambda: f.TreatmentFactory.create(tenant=w.tenant, chart=chart(w), performer=nurse(w)),
    )


def exam(w: World) -> GoodFaithExam:
    return first(
        w,
        GoodFaithExam,
        lambda e: e.chart_id == chart(w).pk,
        lambda: f.GoodFaithExamFactory.create(tenant=w.tenant, chart=chart(w), examiner=physician(w)),
    )


def version(w: World) -> ConsentFormVersion:
    return first(
        w,
        ConsentFormVersion,
        lambda v: v.pc_id == w.pcs[0].pk and v.superseded_at is None,
        lambda: f.ConsentFormVersionFactory.create(tenant=w.tenant, pc=w.pcs[0]),
    )


def consent(w: World) -> SignedConsent:
    return first(
        w,
        SignedConsent,
        lambda c: c.chart_id == chart(w).pk,
        lambda: f.SignedConsentFactory.create(
            tenant=w.tenant, chart=chart(w), form_version=version(w), witnessed_by=w.user("pc_physician")
        ),
    )


def authorization(w: World) -> PhotoAuthorization:
    return first(
        w,
        PhotoAuthorization,
        lambda a: a.chart_id == chart(w).pk and a.revoked_on is None,
        lambda: f.PhotoAuthorizationFactory.create(tenant=w.tenant, chart=chart(w)),
    )


def earlier(**delta: float) -> str:
    return (timezone.now() - dt.timedelta(**delta)).isoformat()


def today(days: int = 0) -> str:
    return (timezone.localdate() + dt.timedelta(days=days)).isoformat()


# --- create payloads -------------------------------------------------------------------------------


def _exam_payload(w: World) -> dict[str, Any]:
    return {
        "chart": str(chart(w).pk),
        "examiner": str(physician(w).pk),
        "examined_on": today(),
        "medical_indication": "Dynamic glabellar lines; no contraindications.",
        "approved_procedures": [Procedure.NEUROTOXIN, Procedure.DERMAL_FILLER],
    }


def _treatment_payload(w: World) -> dict[str, Any]:
    return {
        "chart": str(chart(w).pk),
        "location": str(w.locations[0].pk),
        "procedure": Procedure.NEUROTOXIN,
        "performer": str(nurse(w).pk),
        "supervisor": str(physician(w).pk),
        "performed_at": earlier(hours=2),
        "good_faith_exam": str(exam(w).pk),
        "consent": str(consent(w).pk),
        "notes": "20 units to the glabella, 5 points.",
        "products": [
            {"product_name": "Botox Cosmetic 100U", "lot_number": f"MX{next(_serial)}", "quantity": "20"}
        ],
    }


def _product_payload(w: World) -> dict[str, Any]:
    return {
        "treatment": str(treatment(w).pk),
        "product_name": "Juvederm Ultra XC",
        "lot_number": f"LOT-{next(_serial)}",
        "quantity": "1.00",
        "unit": "syringe",
        "expires_on": today(300),
    }


def _photo_payload(w: World) -> dict[str, Any]:
    return {
        "treatment": str(treatment(w).pk),
        "kind": "after",
        "taken_at": earlier(hours=1),
        "description": "Frontal view, two weeks after",
        "used_outside_chart": True,
        "authorization": str(authorization(w).pk),
    }


def _authorization_payload(w: World) -> dict[str, Any]:
    return {"chart": str(chart(w).pk), "signed_on": today(), "purpose": "Before/after photos on the website"}


def _consent_payload(w: World) -> dict[str, Any]:
    return {"chart": str(chart(w).pk), "form_version": str(version(w).pk), "signer_name": "Dana Matrix"}


def _review_payload(w: World) -> dict[str, Any]:
    return {
        "chart": str(chart(w).pk),
        "reviewer": str(physician(w).pk),
        "reviewed_on": today(),
        "findings": "Dosing within protocol.",
        "follow_up_needed": False,
    }


def _event_payload(w: World) -> dict[str, Any]:
    return {
        "chart": str(chart(w).pk),
        "treatment": str(treatment(w).pk),
        "occurred_at": earlier(minutes=30),
        "severity": "mild",
        "description": "Bruising at one injection point.",
        "actions_taken": "Cold compress.",
    }


def _protocol_payload(w: World) -> dict[str, Any]:
    return {
        "pc": str(w.pcs[0].pk),
        "kind": Protocol.Kind.STANDARDIZED_PROCEDURE,
        "title": f"Standardized procedure {next(_serial)}",
        "supervisor": str(physician(w).pk),
        "procedures": [Procedure.NEUROTOXIN],
        "body": "Patient selection, dosing, complications and emergencies, supervision.",
        "effective_on": today(),
        "expires_on": today(365),
        "supervisees": [str(nurse(w).pk)],
    }


def _supervisee_payload(w: World) -> dict[str, Any]:
    # Supervisees are written through /protocols/ (this endpoint is read-only).
    return {"protocol": str(w.objs[Protocol][0].pk) if w.objs.get(Protocol) else "", "provider": ""}


_STATES = sorted(US_STATES - {"CA"})
_PROCEDURES = list(Procedure.values)
_LICENSES = [LicenseType.NP, LicenseType.PA, LicenseType.RN, LicenseType.LVN]


def _scope_rule_payload(w: World) -> dict[str, Any]:
    n = next(_serial)  # a state, procedure and license type no other payload of this run uses
    license_type = _LICENSES[n % len(_LICENSES)]
    n //= len(_LICENSES)
    procedure = _PROCEDURES[n % len(_PROCEDURES)]
    state = _STATES[(n // len(_PROCEDURES)) % len(_STATES)]
    return {
        "state": state,
        "procedure": procedure,
        "license_type": license_type,
        "allowed": True,
        "supervision": "protocol",
        "requires_good_faith_exam": True,
        "citation": "State nursing practice act (verify)",
        "note": "Matrix rule",
    }


# --- more rows for the query-count tests (all in the first PC's chart: the physician sees them) --------


def _rows(make: Callable[[World, int], Any]) -> Callable[[World, int], list[Any]]:
    return lambda w, n: [make(w, i) for i in range(n)]


def _chart_row(w: World, i: int) -> PatientChart:
    return f.PatientChartFactory.create(tenant=w.tenant, pc=w.pcs[0], home_location=w.locations[0])


# For the patient-charts entry of tests/api_matrix.py (kept there by the foundation).
patient_chart_rows = _rows(_chart_row)


def _treatment_row(w: World, i: int) -> Treatment:
    row = f.TreatmentFactory.create(tenant=w.tenant, chart=chart(w), performer=nurse(w))
    f.TreatmentProductFactory.create(tenant=w.tenant, treatment=row)
    f.TreatmentPhotoFactory.create(tenant=w.tenant, treatment=row)
    return row


def _protocol_row(w: World, i: int) -> Protocol:
    row = f.ProtocolFactory.create(tenant=w.tenant, pc=w.pcs[0], supervisor=physician(w))
    f.ProtocolSuperviseeFactory.create(tenant=w.tenant, protocol=row)
    return row


def _scope_row(w: World, i: int) -> ProcedureScopeRule:
    payload = _scope_rule_payload(w)
    payload.pop("note")
    return f.ProcedureScopeRuleFactory.create(tenant=w.tenant, **payload)


def chart_of(o: Any) -> Any:
    return o.chart.pc


ENDPOINTS: list[Endpoint] = [
    Endpoint(
        name="good-faith-exams",
        model=GoodFaithExam,
        side=Side.CLINICAL,
        scope=chart_of,
        own_objects=lambda w: list(w.objs.get(GoodFaithExam, [])),
        writes=frozenset({"create", "update"}),
        create_payload=_exam_payload,
        create_refs=lambda w: [w.pcs[0]],
        create_scope=lambda w: w.pcs[0],
        update_payload={"medical_indication": "Forehead lines; no contraindications."},
        make_rows=_rows(lambda w, i: f.GoodFaithExamFactory.create(tenant=w.tenant, chart=chart(w))),
    ),
    Endpoint(
        name="treatments",
        model=Treatment,
        side=Side.CLINICAL,
        scope=chart_of,
        own_objects=lambda w: list(w.objs.get(Treatment, [])),
        writes=frozenset({"create", "update"}),
        create_payload=_treatment_payload,
        create_refs=lambda w: [w.pcs[0], w.locations[0]],
        create_scope=lambda w: w.pcs[0],
        update_payload={"notes": "Matrix note: 18 units."},
        make_rows=_rows(_treatment_row),
    ),
    Endpoint(
        name="treatment-products",
        model=TreatmentProduct,
        side=Side.CLINICAL,
        scope=lambda o: o.treatment.chart.pc,
        own_objects=lambda w: list(w.objs.get(TreatmentProduct, [])),
        writes=frozenset({"create", "update"}),
        create_payload=_product_payload,
        create_refs=lambda w: [w.pcs[0]],
        create_scope=lambda w: w.pcs[0],
        update_payload={"lot_number": "MATRIX-LOT-7"},
        make_rows=_rows(
            lambda w, i: f.TreatmentProductFactory.create(tenant=w.tenant, treatment=treatment(w))
        ),
    ),
    Endpoint(
        name="treatment-photos",
        model=TreatmentPhoto,
        side=Side.CLINICAL,
        scope=lambda o: o.treatment.chart.pc,
        own_objects=lambda w: list(w.objs.get(TreatmentPhoto, [])),
        writes=frozenset({"create", "update"}),
        create_payload=_photo_payload,
        create_refs=lambda w: [w.pcs[0]],
        create_scope=lambda w: w.pcs[0],
        update_payload={"description": "Matrix profile view"},
        make_rows=_rows(lambda w, i: f.TreatmentPhotoFactory.create(tenant=w.tenant, treatment=treatment(w))),
    ),
    Endpoint(
        name="photo-authorizations",
        model=PhotoAuthorization,
        side=Side.CLINICAL,
        scope=chart_of,
        own_objects=lambda w: list(w.objs.get(PhotoAuthorization, [])),
        writes=frozenset({"create", "update"}),
        create_payload=_authorization_payload,
        create_refs=lambda w: [w.pcs[0]],
        create_scope=lambda w: w.pcs[0],
        update_payload={"purpose": "Matrix purpose: social media"},
        make_rows=_rows(lambda w, i: f.PhotoAuthorizationFactory.create(tenant=w.tenant, chart=chart(w))),
    ),
    Endpoint(
        name="signed-consents",
        model=SignedConsent,
        side=Side.CLINICAL,
        scope=chart_of,
        own_objects=lambda w: list(w.objs.get(SignedConsent, [])),
        writes=frozenset({"create"}),
        create_payload=_consent_payload,
        create_refs=lambda w: [w.pcs[0]],
        create_scope=lambda w: w.pcs[0],
        update_payload={"signer_name": "Matrix Guardian"},
        make_rows=_rows(
            lambda w, i: f.SignedConsentFactory.create(
                tenant=w.tenant, chart=chart(w), form_version=version(w), witnessed_by=w.user("pc_physician")
            )
        ),
    ),
    Endpoint(
        name="chart-reviews",
        model=ChartReview,
        side=Side.CLINICAL,
        scope=chart_of,
        own_objects=lambda w: list(w.objs.get(ChartReview, [])),
        writes=frozenset({"create", "update"}),
        create_payload=_review_payload,
        create_refs=lambda w: [w.pcs[0]],
        create_scope=lambda w: w.pcs[0],
        update_payload={"findings": "Matrix findings: complete."},
        make_rows=_rows(lambda w, i: f.ChartReviewFactory.create(tenant=w.tenant, chart=chart(w))),
    ),
    Endpoint(
        name="adverse-events",
        model=AdverseEvent,
        side=Side.CLINICAL,
        scope=chart_of,
        own_objects=lambda w: list(w.objs.get(AdverseEvent, [])),
        writes=frozenset({"create", "update"}),
        create_payload=_event_payload,
        create_refs=lambda w: [w.pcs[0]],
        create_scope=lambda w: w.pcs[0],
        update_payload={"actions_taken": "Matrix: arnica, follow-up call."},
        make_rows=_rows(lambda w, i: f.AdverseEventFactory.create(tenant=w.tenant, chart=chart(w))),
    ),
    Endpoint(
        name="protocols",
        model=Protocol,
        side=Side.CLINICAL,
        scope=lambda o: o.pc,
        own_objects=lambda w: list(w.objs.get(Protocol, [])),
        writes=frozenset({"create", "update"}),
        create_payload=_protocol_payload,
        create_refs=lambda w: [w.pcs[0]],
        create_scope=lambda w: w.pcs[0],
        update_payload={"title": "Matrix standardized procedure"},
        make_rows=_rows(_protocol_row),
    ),
    Endpoint(
        name="protocol-supervisees",
        model=ProtocolSupervisee,
        side=Side.CLINICAL,
        scope=lambda o: o.protocol.pc,
        own_objects=lambda w: list(w.objs.get(ProtocolSupervisee, [])),
        writes=frozenset(),
        create_payload=_supervisee_payload,
        update_payload={"signed_at": None},
        make_rows=_rows(
            lambda w, i: f.ProtocolSuperviseeFactory.create(
                tenant=w.tenant, protocol=f.ProtocolFactory.create(tenant=w.tenant, pc=w.pcs[0])
            )
        ),
    ),
    Endpoint(
        name="procedure-scope-rules",
        model=ProcedureScopeRule,
        side=Side.CLINICAL,
        scope=lambda o: None,
        own_objects=lambda w: list(w.objs.get(ProcedureScopeRule, [])),
        writes=frozenset({"create", "update"}),
        create_payload=_scope_rule_payload,
        update_payload={"note": "Matrix: reviewed by counsel"},
        make_rows=_rows(_scope_row),
        **_PHYSICIANS_WRITE,
    ),
]


# --- for the generic attack tests (tests/test_attack_input.py, tests/attack_routes.py) ----------------

# Capacities that may write a model whose writes are narrower than the capacity table (Capacity.may):
# the scope table is read by every clinical capacity and written by PC physicians only (404 for others).
WRITERS: dict[type[models.Model], frozenset[str]] = {ProcedureScopeRule: frozenset({"pc_physician"})}
# Browser pages that write such a model (their GET is 404 for a capacity not in WRITERS).
WRITE_PAGES: dict[str, type[models.Model]] = {
    "scope-rule-create": ProcedureScopeRule,
    "scope-rule-edit": ProcedureScopeRule,
}
# Other models a write through an endpoint legitimately changes (test_attack_input's mass-assignment
# check allows only the endpoint's own model): a treatment is created with its product lines, and a
# protocol's content change voids its supervisees' signatures (ProtocolSupervisee.signed_at).
ALSO_WRITES: dict[type[models.Model], frozenset[type[models.Model]]] = {
    Treatment: frozenset({TreatmentProduct}),
    Protocol: frozenset({ProtocolSupervisee}),
}
# Entries of models whose writes also change a child table carry it (Endpoint.also_writes).
ENDPOINTS = [
    dataclasses.replace(e, also_writes=ALSO_WRITES[e.model]) if e.model in ALSO_WRITES else e
    for e in ENDPOINTS
]
