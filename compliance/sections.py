"""Navigation sections of the compliance pages (composed by tenants.views via settings.TENANT_SECTIONS).

A section is shown to the capacities that may view its model: "Clinical findings" only to clinical
capacities, so a business capacity's dashboard never counts a clinical row. Finding counts are of the
unresolved ones (open, acknowledged, accepted as a risk).
"""

from tenants.views import Section

GROUP = "Compliance"

SECTIONS = [
    Section(
        "Findings",
        "business-finding-list",
        "compliance.BusinessFinding",
        "compliance.views._support.unresolved_business_findings",
        GROUP,
    ),
    Section(
        "Clinical findings",
        "clinical-finding-list",
        "compliance.ClinicalFinding",
        "compliance.views._support.unresolved_clinical_findings",
        GROUP,
    ),
    Section("Audit runs", "audit-run-list", "compliance.AuditRun", "compliance.selectors.run_list", GROUP),
    Section(
        "Rules & settings",
        "rule-list",
        "compliance.RuleSetting",
        "compliance.views._support.rule_settings",
        GROUP,
    ),
]
