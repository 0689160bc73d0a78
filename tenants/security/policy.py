"""Which capacities need a second factor, and how long each may stay idle.

The one place these decisions live: TenantMiddleware asks here before it activates a membership.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings

# Capacities that reach PHI or run the whole tenant must prove a second factor (issue 5).
TWO_FACTOR_CAPACITIES: frozenset[str] = frozenset({"mso_admin", "pc_physician", "clinician"})


def requires_two_factor(capacity_code: str) -> bool:
    return capacity_code in TWO_FACTOR_CAPACITIES


def idle_timeout(capacity_code: str | None) -> dt.timedelta:
    """Idle limit for a session acting in `capacity_code` (None: no capacity chosen yet).

    settings.SESSION_IDLE_TIMEOUT_MINUTES maps capacity codes to minutes; capacities not listed
    (and sessions outside any tenant) get SESSION_IDLE_TIMEOUT_DEFAULT_MINUTES.
    """
    per_capacity: dict[str, int] = settings.SESSION_IDLE_TIMEOUT_MINUTES
    default: int = settings.SESSION_IDLE_TIMEOUT_DEFAULT_MINUTES
    minutes = per_capacity.get(capacity_code, default) if capacity_code else default
    return dt.timedelta(minutes=minutes)
