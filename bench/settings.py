"""Settings of the benchmark's web server: the product's base settings, DEBUG off, plus bench URLs.

The product middleware stays in place and in order; the two tenancy middlewares are swapped for
subclasses that behave identically except under ``/bench/bare/``, the bare baseline endpoint, which
must run with no request transaction, no role switch and no tenant (see bench.middleware).
"""

from mso_platform.settings.base import *  # noqa: F403
from mso_platform.settings.base import MIDDLEWARE as BASE_MIDDLEWARE
from mso_platform.settings.base import REST_FRAMEWORK as BASE_REST_FRAMEWORK

DEBUG = False
ROOT_URLCONF = "bench.urls"

_BENCH_MIDDLEWARE = {
    "tenants.middleware.RequestTransactionMiddleware": "bench.middleware.RequestTransactionMiddleware",
    "tenants.middleware.TenantMiddleware": "bench.middleware.TenantMiddleware",
}
MIDDLEWARE = [_BENCH_MIDDLEWARE.get(name, name) for name in BASE_MIDDLEWARE]

# The benchmark talks plain HTTP on loopback: cookies marked Secure would never be sent back.
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False

# The per-key API rate limit would answer 429 to a benchmark: every rate is raised so the throttle
# still runs (its cache round trips are part of what is measured) but never refuses.
_RATES = BASE_REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES")
REST_FRAMEWORK = {
    **BASE_REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {scope: "1000000/s" for scope in (_RATES if isinstance(_RATES, dict) else {})},
}

# Request logging would measure the terminal, not the app.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
