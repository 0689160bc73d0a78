"""API rate limits per key: DRF throttling keyed by the API key id, counted in the Redis cache."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

from tenants.api.authentication import KeyUser

DEFAULT_SCOPE = "api_key"


class ApiKeyRateThrottle(ScopedRateThrottle):
    """Every API view is limited per key; a view may name its own scope (`throttle_scope`).

    Rates come from REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] at request time (not at import, as
    DRF's class attribute would), so settings changes apply. Requests without a key are not
    counted here: they are refused by authentication first, or reach only the public schema pages.
    Over the rate DRF answers 429 with Retry-After.
    """

    def allow_request(self, request: Request, view: Any) -> bool:
        self.scope = getattr(view, self.scope_attr, None) or DEFAULT_SCOPE
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super(ScopedRateThrottle, self).allow_request(request, view)

    def get_rate(self) -> str | None:
        rates: dict[str, Any] = api_settings.DEFAULT_THROTTLE_RATES
        if self.scope not in rates:
            # An unknown scope must not mean "unlimited" by accident.
            raise ImproperlyConfigured(f"No rate in DEFAULT_THROTTLE_RATES for scope {self.scope!r}.")
        return rates[self.scope]

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        user = request.user
        if not isinstance(user, KeyUser):
            return None
        return self.cache_format % {"scope": self.scope, "ident": str(user.key.pk)}
