"""A URLconf for tests/test_pages_toolkit.py: the project's URLs plus toolkit pages over Location."""

from django.urls import include, path

from management import selectors, services
from management.models import Location
from mso_platform.urls import urlpatterns as project_urlpatterns
from tenants.pages import Column, ObjectPages

TOOLKIT_LOCATIONS = ObjectPages(
    model=Location,
    name="toolkit-location",
    path="toolkit-locations",
    list_selector=selectors.location_list,
    get_selector=selectors.location_get,
    columns=[Column("Name", "name", link=True), Column("PC", "pc.legal_name"), Column("State", "state")],
    fields=["name", "address", "city", "state", "managing_entity", "pc"],
    create_service=services.location_create,
    update_service=services.location_update,
    update_kwarg="location",
)

urlpatterns = [path("t/<slug:tenant_slug>/", include(TOOLKIT_LOCATIONS.urls())), *project_urlpatterns]
