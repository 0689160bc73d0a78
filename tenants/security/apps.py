from django.apps import AppConfig


class SecurityConfig(AppConfig):
    name = "tenants.security"
    label = "security"
    verbose_name = "Sign-in security: second factor and recovery codes"
    default_auto_field = "django.db.models.BigAutoField"  # django-otp looks devices up by integer id
