"""Navigation sections of the business side (composed by tenants.views via settings.TENANT_SECTIONS)."""

from tenants.views import Section

SECTIONS = [
    Section(
        "Locations",
        "location-list",
        "management.Location",
        "management.selectors.location_list",
        "Organization",
    ),
    Section(
        "Professional corporations",
        "pc-list",
        "management.ProfessionalCorporation",
        "management.selectors.pc_list",
        "Organization",
    ),
]
