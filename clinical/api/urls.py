from rest_framework.routers import SimpleRouter

from clinical.api import views

router = SimpleRouter()
router.register("patient-charts", views.PatientChartViewSet, basename="patient-chart")

urlpatterns = router.urls
