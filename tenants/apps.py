from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants, users, capacities and audit log"

    def ready(self) -> None:
        from tenants import signals  # noqa: F401  (connects the audit receivers)
