"""Settings shared by every environment; all deployment-specific values come from the environment."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import environ
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False) if (BASE_DIR / ".env").exists() else None

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-key-change-me-in-production-0123456789abcdef")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "tenants",
    "tenants.security",
    "management",
    "clinical",
    "compliance",
]

# Navigation sections of the tenant shell, in order (each a list of tenants.views.Section).
TENANT_SECTIONS = [
    "management.sections.SECTIONS",
    "clinical.sections.SECTIONS",
    "compliance.sections.SECTIONS",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "tenants.security.middleware.ContentSecurityPolicyMiddleware",
    # Over-limit bodies (uploaded files included) are refused before anything reads them.
    "tenants.middleware.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Outside the request transaction on purpose: the failure that reaches the limit is committed
    # with the sign-in page's 200 first, and only then turned into the 429 lockout page (a 4xx
    # inside would roll back the very attempt that locks the account).
    "axes.middleware.AxesMiddleware",
    # Opens the request transaction and drops to the gateway role before anything touches the DB.
    "tenants.middleware.RequestTransactionMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): the session has passed a second factor (TOTP or recovery code).
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Signs out sessions idle longer than their capacity allows.
    "tenants.security.middleware.IdleSessionMiddleware",
    # Resolves /t/<slug>/ and the chosen capacity, asks for the second factor where the capacity
    # needs one, then SET LOCAL ROLE + app.tenant_id.
    "tenants.middleware.TenantMiddleware",
]

ROOT_URLCONF = "mso_platform.urls"
WSGI_APPLICATION = "mso_platform.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenants.context_processors.access",
            ],
            "builtins": ["tenants.templatetags.pages"],
        },
    },
]


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    from mso_platform import embedded

    return embedded.postgres_url()


def _redis_url() -> str:
    url = os.environ.get("REDIS_URL")
    if url:
        return url
    from mso_platform import embedded

    return embedded.redis_url()


DATABASE_URL = _database_url()
os.environ.setdefault("DATABASE_URL", DATABASE_URL)  # child processes (worker, beat) reuse it
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
# Our backend builds schemas, roles, RLS and audit triggers as migrations create tables.
DATABASES["default"]["ENGINE"] = "mso_platform.db.backend"
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = _redis_url()
os.environ.setdefault("REDIS_URL", REDIS_URL)


def cache_redis_url(url: str, db: int) -> str:
    """redis-py's spelling of REDIS_URL for the cache, on its own database number.

    The embedded Redis is "redis+socket:///path" (kombu's form); redis-py wants "unix:///path".
    The cache gets a database of its own so that clearing it can never drop queued Celery tasks.
    """
    parts = urlsplit(url)
    if parts.scheme in ("redis+socket", "unix"):
        query = urlencode([*((k, v) for k, v in parse_qsl(parts.query) if k != "db"), ("db", str(db))])
        return f"unix://{parts.path}?{query}"
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, ""))


CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env(
            "CACHE_URL", default=cache_redis_url(REDIS_URL, env.int("CACHE_REDIS_DB", default=1))
        ),
        "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="mso"),
    }
}

AUTH_USER_MODEL = "tenants.User"
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username+IP before any password is checked (django-axes).
    "tenants.security.lockout.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "tenant-picker"
LOGOUT_REDIRECT_URL = "login"
# Argon2 first: new and re-saved passwords get it; older hashes still verify and are upgraded at login.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# guardian: no anonymous user row, object permissions only through our direct-FK group models.
ANONYMOUS_USER_NAME = None
GUARDIAN_MONKEY_PATCH_USER = False

# --- Sign-in hardening (issue 5; README "Security") ------------------------------------------------
# Second factor (django-otp): TOTP for the capacities in tenants/security/policy.py.
OTP_TOTP_ISSUER = "MSO Platform"
# Wrong codes double the wait before the next try: 2, 4, 8 … seconds (per device, in the database).
OTP_TOTP_THROTTLE_FACTOR = env.int("OTP_TOTP_THROTTLE_FACTOR", default=2)

# Failed sign-ins (django-axes): 5 failures of one email from one address lock that pair out for
# 15 minutes; attempts are kept in the database (public.axes_*, granted to the gateway role).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# A locked-out pair stays locked for the cool-off from its lockout: more tries do not extend it.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_USERNAME_CALLABLE = "tenants.security.lockout.attempted_email"
AXES_CLIENT_IP_CALLABLE = "tenants.middleware.client_ip"  # the same address the audit log records
AXES_LOCKOUT_CALLABLE = "tenants.security.lockout.lockout_response"
AXES_USERNAME_FORM_FIELD = "username"  # the sign-in form's email field
AXES_VERBOSE = False  # no banner on every manage.py command

# Idle sessions are signed out: clinical capacities after 15 minutes, the rest after 30.
SESSION_IDLE_TIMEOUT_MINUTES: dict[str, int] = {
    "pc_physician": env.int("IDLE_TIMEOUT_CLINICAL_MINUTES", default=15),
    "clinician": env.int("IDLE_TIMEOUT_CLINICAL_MINUTES", default=15),
}
SESSION_IDLE_TIMEOUT_DEFAULT_MINUTES = env.int("IDLE_TIMEOUT_MINUTES", default=30)
# Hard cap whatever the activity: one working day; and nothing survives closing the browser.
SESSION_COOKIE_AGE = 12 * 60 * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# No inline script or style anywhere but the two API documentation pages (their vendored UIs
# inline both); tenants.security.middleware sets these.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'"
)
CONTENT_SECURITY_POLICY_EXCEPTIONS: dict[str, str] = {
    path: (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
        "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    )
    for path in ("/api/v1/docs/", "/api/v1/redoc/")
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Pages carry the token in the markup (forms, htmx's hx-headers); no script needs the cookie.
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "America/Los_Angeles"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Development and tests serve straight from the finders; production collects into STATIC_ROOT.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True

DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenants.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.api.permissions.HasTenantContext"],
    "DEFAULT_PAGINATION_CLASS": "tenants.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "tenants.api.exceptions.exception_handler",
    # Per API key, in the Redis cache; over the rate: 429 with Retry-After.
    "DEFAULT_THROTTLE_CLASSES": ["tenants.api.throttling.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": env("API_RATE_PER_KEY", default="600/min")},
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    # One OpenAPI name per shared choice set (several models reuse "kind", "status", "fee_basis").
    "ENUM_NAME_OVERRIDES": {
        "FeeBasisEnum": "management.models.agreements.FeeBasis",
        "ProcedureEnum": "management.procedures.Procedure",
        "ReviewDecisionEnum": "management.models.marketing.Decision",
        "PhysicianDecisionChoiceEnum": "clinical.services.decisions.DECISION_CHOICES",
        "MarketingImageKindEnum": "management.models.marketing.MarketingImage.Kind",
        "VendorFeeBasisEnum": "management.models.workforce.Vendor.FeeBasis",
        "TrainingKindEnum": "management.models.workforce.TrainingRecord.Kind",
        "PatientPaymentKindEnum": "management.models.frontdesk.PatientPayment.Kind",
        "AppointmentStatusEnum": "management.models.frontdesk.Appointment.Status",
        "InvoiceStatusEnum": "management.models.finance.ManagementFeeInvoice.Status",
        "EquipmentKindEnum": "management.models.sites.Equipment.Kind",
        "TreatmentPhotoKindEnum": "clinical.models.charts.TreatmentPhoto.Kind",
        "ProtocolKindEnum": "clinical.models.protocols.Protocol.Kind",
        "ProtocolStatusEnum": "clinical.selectors.protocols.STATUS_CHOICES",
        "FindingSeverityEnum": "compliance.models.SEVERITY_CHOICES",
        "FindingStatusEnum": "compliance.models.FindingStatus",
        "AuditRunStatusEnum": "compliance.models.AuditRun.Status",
    },
    "TITLE": "MSO Platform API",
    "DESCRIPTION": (
        "Tenant-scoped REST API. Authenticate with `Authorization: Api-Key <key>`. "
        "Business keys reach MSO data; clinical keys reach the PC's clinical data. "
        "Objects of other tenants, and objects outside a key's capacity, answer 404."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# Rules an audit run evaluates at once, each on a database connection of its own (compliance.engine).
COMPLIANCE_RULE_WORKERS = env.int("COMPLIANCE_RULE_WORKERS", default=2)

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE  # beat crontabs are Pacific time, DST included
# Late acks only where running twice is safe: tenants.taskbase.TenantTask sets acks_late and
# reject_on_worker_lost per task from its `idempotent` flag; everything else acks on receipt.
CELERY_TASK_ACKS_LATE = False
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # a killed worker holds back at most the task it runs
# Redis redelivers a message unacked this long: above the hard time limit, else a long late-acked
# task runs twice; TenantTask refuses countdowns/etas beyond it for the same reason.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_SOFT_TIME_LIMIT = 25 * 60
CELERY_TASK_TIME_LIMIT = 30 * 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None  # keep reconnecting through a Redis restart
# On broker loss, stop late-acked tasks that will be redelivered anyway, instead of running them twice.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "expire-memberships-nightly": {
        "task": "tenants.tasks.expire_memberships",
        "schedule": crontab(hour=2, minute=30),
    },
    # One compliance audit per tenant (compliance.tasks.audit_tenant), named by the date.
    "audit-all-tenants-nightly": {
        "task": "compliance.tasks.audit_all_tenants",
        "schedule": crontab(hour=3, minute=0),
    },
    # Expiring credentials and any critical finding not mailed yet, after the nightly audit.
    "notify-all-tenants-daily": {
        "task": "compliance.notifications.notify_all_tenants",
        "schedule": crontab(hour=6, minute=0),
    },
}

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="compliance@mso-platform.local")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # axes narrates every sign-in at INFO; its warnings (failures, lockouts) are what operators need.
    "loggers": {
        "axes": {"level": env("AXES_LOG_LEVEL", default="WARNING")},
        # WeasyPrint narrates each rendering step at INFO; refused resources still log as warnings.
        "weasyprint.progress": {"level": "WARNING"},
    },
}

# Separate test database names let several suites run at once against one server.
DATABASES["default"]["TEST"] = {"NAME": env("TEST_DB_NAME", default="test_mso_platform")}
