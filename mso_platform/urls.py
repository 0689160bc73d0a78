from django.urls import include, path

urlpatterns = [
    path("", include("tenants.urls")),
    path("api/v1/", include("tenants.api.urls")),
    path("api/v1/", include("compliance.api.urls")),
]
