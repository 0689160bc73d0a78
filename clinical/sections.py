"""Navigation sections of the clinical side (composed by tenants.views via settings.TENANT_SECTIONS)."""

from tenants.views import Section

SECTIONS = [
    Section(
        "Patient charts",
        "chart-list",
        "clinical.PatientChart",
        "clinical.selectors.patient_chart_list",
        "Clinical",
    ),
    Section(
        "Treatments", "treatment-list", "clinical.Treatment", "clinical.selectors.treatment_list", "Clinical"
    ),
    Section(
        "Good-faith exams",
        "exam-list",
        "clinical.GoodFaithExam",
        "clinical.selectors.good_faith_exam_list",
        "Clinical",
    ),
    Section(
        "Signed consents",
        "signed-consent-list",
        "clinical.SignedConsent",
        "clinical.selectors.signed_consent_list",
        "Clinical",
    ),
    Section(
        "Adverse events",
        "adverse-event-list",
        "clinical.AdverseEvent",
        "clinical.selectors.adverse_event_list",
        "Clinical",
    ),
    Section(
        "Chart reviews",
        "chart-review-list",
        "clinical.ChartReview",
        "clinical.selectors.chart_review_list",
        "Clinical",
    ),
    Section(
        "Protocols", "protocol-list", "clinical.Protocol", "clinical.selectors.protocol_list", "Clinical"
    ),
    Section(
        "Scope of practice",
        "scope-rule-list",
        "clinical.ProcedureScopeRule",
        "clinical.selectors.scope_rule_list",
        "Clinical",
    ),
    # --- physician decisions (clinical/views/decisions.py) ---
    Section(
        "Approval queue",
        "approval-queue",
        "clinical.PhysicianDecision",
        "clinical.selectors.decisions.approval_queue",
        "Approvals",
    ),
    Section(
        "Physician decisions",
        "physician-decision-list",
        "clinical.PhysicianDecision",
        "clinical.selectors.decisions.physician_decision_list",
        "Approvals",
    ),
    Section(
        "Consent-form versions",
        "consent-form-version-list",
        "clinical.ConsentFormVersion",
        "clinical.selectors.decisions.consent_form_version_list",
        "Approvals",
    ),
]
