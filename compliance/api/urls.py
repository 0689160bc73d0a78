"""/api/v1/ routes of the compliance engine."""

from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from compliance.api import viewsets

router = SimpleRouter()
router.register("business-findings", viewsets.BusinessFindingViewSet, basename="business-finding")
router.register("clinical-findings", viewsets.ClinicalFindingViewSet, basename="clinical-finding")
router.register("audit-runs", viewsets.AuditRunViewSet, basename="audit-run")
router.register("rule-settings", viewsets.RuleSettingViewSet, basename="rule-setting")

urlpatterns: list[URLPattern | URLResolver] = [
    # Before the router: "catalogue" would otherwise be read as a rule setting's id.
    path("rule-settings/catalogue/", viewsets.RuleCatalogueView.as_view(), name="rule-catalogue"),
    *router.urls,
]
