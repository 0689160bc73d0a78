"""/api/v1/: tenant-scoped endpoints (authenticated by API key) and the OpenAPI schema and docs."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny
from rest_framework.routers import SimpleRouter

from tenants.api import schema  # noqa: F401  # registers the Api-Key security scheme with drf-spectacular
from tenants.api.views import ApiKeyViewSet, MeView

router = SimpleRouter()
router.register("api-keys", ApiKeyViewSet, basename="api-key")

# The schema and its docs are public (they describe, never return, data) and touch no tenant.
public = {"authentication_classes": [], "permission_classes": [AllowAny]}

urlpatterns = [
    path("me/", MeView.as_view(), name="api-me"),
    path("schema/", SpectacularAPIView.as_view(**public), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema", **public), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema", **public), name="api-redoc"),
    path("", include("management.api.urls")),
    path("", include("clinical.api.urls")),
    *router.urls,
]
