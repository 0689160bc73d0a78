from typing import Any

from rest_framework.permissions import BasePermission

from tenants.access import AccessContext


class HasTenantContext(BasePermission):
    """Every API view needs an authenticated key, which carries the tenant and capacity."""

    def has_permission(self, request: Any, view: Any) -> bool:
        return isinstance(request.auth, AccessContext)
