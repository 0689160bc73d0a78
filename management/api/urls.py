from rest_framework.routers import SimpleRouter

from management.api import views

router = SimpleRouter()
router.register("mso-entities", views.MsoEntityViewSet, basename="mso-entity")
router.register("pcs", views.ProfessionalCorporationViewSet, basename="pc")
router.register("locations", views.LocationViewSet, basename="location")

urlpatterns = router.urls
