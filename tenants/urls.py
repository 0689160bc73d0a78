"""Browser URLs: sign-in, the tenant picker and everything under /t/<slug>/ (the shell composes the apps)."""

from django.contrib.auth.views import LogoutView
from django.urls import URLPattern, URLResolver, include, path

from tenants import views
from tenants.security import views as security_views

tenant_patterns: list[URLPattern | URLResolver] = [
    path("", views.dashboard, name="dashboard"),
    path("capacity/", views.capacity_switch, name="capacity-switch"),
    path("api-keys/", views.api_keys, name="api-keys"),
    path("api-keys/<str:key_id>/revoke/", views.api_key_revoke_view, name="api-key-revoke"),
    path("", include("management.urls")),
    path("", include("clinical.urls")),
    path("", include("compliance.urls")),
]

urlpatterns = [
    path("login/", views.SignInView.as_view(), name="login"),
    # Django 5 LogoutView accepts POST only: a link or an image tag cannot sign anyone out.
    path("logout/", LogoutView.as_view(), name="logout"),
    # Second factor (outside /t/: runs before any tenant or capacity is active).
    path("account/2fa/", security_views.two_factor, name="two-factor"),
    path("account/2fa/setup/", security_views.two_factor_setup, name="two-factor-setup"),
    path(
        "account/2fa/recovery-codes/",
        security_views.recovery_codes,
        name="two-factor-recovery-codes",
    ),
    path("", views.tenant_picker, name="tenant-picker"),
    path("t/<slug:tenant_slug>/", include(tenant_patterns)),
]
