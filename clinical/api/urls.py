from rest_framework.routers import SimpleRouter

from clinical.api import decisions, views

router = SimpleRouter()
router.register("patient-charts", views.PatientChartViewSet, basename="patient-chart")
router.register("good-faith-exams", views.GoodFaithExamViewSet, basename="good-faith-exam")
router.register("treatments", views.TreatmentViewSet, basename="treatment")
router.register("treatment-products", views.TreatmentProductViewSet, basename="treatment-product")
router.register("treatment-photos", views.TreatmentPhotoViewSet, basename="treatment-photo")
router.register("photo-authorizations", views.PhotoAuthorizationViewSet, basename="photo-authorization")
router.register("signed-consents", views.SignedConsentViewSet, basename="signed-consent")
router.register("chart-reviews", views.ChartReviewViewSet, basename="chart-review")
router.register("adverse-events", views.AdverseEventViewSet, basename="adverse-event")
router.register("protocols", views.ProtocolViewSet, basename="protocol")
router.register("protocol-supervisees", views.ProtocolSuperviseeViewSet, basename="protocol-supervisee")
router.register("procedure-scope-rules", views.ProcedureScopeRuleViewSet, basename="procedure-scope-rule")
router.register("physician-decisions", decisions.PhysicianDecisionViewSet, basename="physician-decision")
router.register("consent-form-versions", decisions.ConsentFormVersionViewSet, basename="consent-form-version")

urlpatterns = router.urls
