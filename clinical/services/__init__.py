"""Writes of clinical records. Only clinical capacities reach them (and only their granted PCs).

One module per area: ``charts`` (charts and what happens in them), ``protocols`` (protocols and
their signatures), ``scope`` (the per-state procedure scope table). Re-exported here for callers.
"""

from __future__ import annotations

from clinical.services.charts import (
    UNSET,
    adverse_event_create,
    adverse_event_update,
    chart_review_create,
    chart_review_update,
    good_faith_exam_create,
    good_faith_exam_update,
    patient_chart_create,
    patient_chart_update,
    photo_authorization_create,
    photo_authorization_update,
    retention_floor,
    signed_consent_create,
    treatment_create,
    treatment_photo_create,
    treatment_photo_update,
    treatment_product_create,
    treatment_product_update,
    treatment_update,
)
from clinical.services.protocols import protocol_create, protocol_sign, protocol_update
from clinical.services.scope import scope_rule_create, scope_rule_update, scope_rules_seed

__all__ = [
    "UNSET",
    "adverse_event_create",
    "adverse_event_update",
    "chart_review_create",
    "chart_review_update",
    "good_faith_exam_create",
    "good_faith_exam_update",
    "patient_chart_create",
    "patient_chart_update",
    "photo_authorization_create",
    "photo_authorization_update",
    "protocol_create",
    "protocol_sign",
    "protocol_update",
    "retention_floor",
    "scope_rule_create",
    "scope_rule_update",
    "scope_rules_seed",
    "signed_consent_create",
    "treatment_create",
    "treatment_photo_create",
    "treatment_photo_update",
    "treatment_product_create",
    "treatment_product_update",
    "treatment_update",
]
