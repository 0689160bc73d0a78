"""Settings for the test suite: same database boundary, faster hashing, in-memory mail."""

from mso_platform.settings.base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
# Suites running side by side share the embedded Redis: each keeps its cache keys, and the tasks it
# queues outside eager mode (a page's "Run audit" in a browser test), under its own name. No worker
# consumes that queue: on the default one, `./run start` on the same data folder would run them later
# against tenants that exist only in the test database (tests/conftest.py deletes it after the session).
SUITE = f"test:{DATABASES['default']['TEST']['NAME']}"  # noqa: F405
CACHES["default"]["KEY_PREFIX"] = SUITE  # noqa: F405
CELERY_TASK_DEFAULT_QUEUE = SUITE
# Suites drive one key through many requests (matrix, fuzzing); tests of the limit set their own rate.
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"api_key": "100000/min"}  # noqa: F405
