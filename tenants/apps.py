from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def refresh_boundary_functions(using: str = "default", **kwargs: Any) -> None:
    """Re-apply the row-audit functions after every migrate (CREATE OR REPLACE is idempotent), so a
    changed trigger body reaches existing databases. The chain functions depend on the audit table's
    columns, so they change only through migrations (tenants 0002)."""
    from django.db import connections

    from mso_platform.db import boundary

    with connections[using].cursor() as cur:
        cur.execute(boundary.AUDIT_FUNCTIONS_SQL)


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants, users, capacities and audit log"

    def ready(self) -> None:
        from tenants import signals  # noqa: F401  (connects the audit receivers)

        post_migrate.connect(
            refresh_boundary_functions, sender=self, dispatch_uid="refresh_boundary_functions"
        )
