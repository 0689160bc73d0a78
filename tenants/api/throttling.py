"""API rate limits per key: a sliding window per API key, checked and counted in Redis atomically.

DRF's SimpleRateThrottle reads a key's request history from the cache and writes it back: two
round trips, and concurrent requests of one key each read the same history, so they are all let
through and only one of them is counted. Here one Lua script does the check and the count inside
Redis, where scripts run one at a time: N concurrent requests against a budget of K let exactly K
through (tests/test_security_auth.py), in one round trip.
"""

from __future__ import annotations

import math
import time
import uuid
from functools import cache
from typing import Any

import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from tenants.api.authentication import KeyUser

DEFAULT_SCOPE = "api_key"
PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}  # DRF's rate spelling: "600/min", "10/s"

# KEYS[1]: the key's window (a sorted set of request times). ARGV: now, window seconds, limit, id.
# Drops the times that left the window, then records this request only if the budget allows it
# (a refused request does not count, as in DRF). Answers {1} or {0, seconds until a slot frees}.
SLIDING_WINDOW = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('EXPIRE', KEYS[1], math.ceil(window))
  return {1}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tostring(tonumber(oldest[2]) + window - now)}
"""


# A Redis that does not answer within this many seconds counts as down (a hung server would
# otherwise hold every API request).
REDIS_TIMEOUT = 2.0


class RateLimiterUnavailable(exceptions.APIException):
    """503 when the limiter's Redis cannot be reached: a limit that cannot be checked is not waived
    (fail closed), and the caller gets a JSON message, not a 500."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The API rate limiter is unavailable; try again shortly."
    default_code = "rate_limiter_unavailable"


@cache
def _script(url: str) -> Any:
    """The script on one client (one connection pool per process) of the cache's Redis database."""
    client = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT)
    return client.register_script(SLIDING_WINDOW)


def window_key(scope: str, key_id: Any) -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    return f"{prefix}:throttle:{scope}:{key_id}"


def _window_script() -> Any:
    return _script(settings.CACHES["default"]["LOCATION"])


class ApiKeyRateThrottle(BaseThrottle):
    """Every API view is limited per key; a view may name its own scope (`throttle_scope`).

    Rates come from REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] at request time, so settings changes
    apply. Requests without a key are not counted here: they are refused by authentication first,
    or reach only the public schema pages. Over the rate DRF answers 429 with Retry-After.
    """

    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        scope = getattr(view, "throttle_scope", None) or DEFAULT_SCOPE
        limit, window = self.rate_of(scope)
        user = request.user
        if not isinstance(user, KeyUser) or limit is None or window is None:
            return True
        # EVALSHA: one round trip (the script body is sent once per process, on NOSCRIPT).
        try:
            answer = _window_script()(
                keys=[window_key(scope, user.key.pk)], args=[time.time(), window, limit, uuid.uuid4().hex]
            )
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise RateLimiterUnavailable() from exc
        if int(answer[0]) == 1:
            return True
        self._wait = max(float(answer[1]), 0.0)
        return False

    def wait(self) -> float | None:
        return math.ceil(self._wait) if self._wait is not None else None

    @staticmethod
    def rate_of(scope: str) -> tuple[int | None, int | None]:
        rates: dict[str, Any] = api_settings.DEFAULT_THROTTLE_RATES
        if scope not in rates:
            # An unknown scope must not mean "unlimited" by accident.
            raise ImproperlyConfigured(f"No rate in DEFAULT_THROTTLE_RATES for scope {scope!r}.")
        rate = rates[scope]
        if rate is None:  # DRF's meaning: this scope is not limited
            return None, None
        count, _, period = str(rate).partition("/")
        return int(count), PERIODS[period[:1]]
