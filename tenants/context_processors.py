from typing import Any

from django.http import HttpRequest


def access(request: HttpRequest) -> dict[str, Any]:
    """Expose the active tenant, capacity and the user's other capacities to every template."""
    return {
        "access": getattr(request, "access", None),
        "tenant": getattr(request, "tenant", None),
        "memberships": getattr(request, "memberships", []),
    }
