"""The Celery app: configured from Django settings (``CELERY_*``), tasks found in each app's tasks.py.

Worker: ``celery -A mso_platform worker``; beat: ``celery -A mso_platform beat``. The broker is
``settings.REDIS_URL``; the embedded Redis answers on a Unix socket (``redis+socket:///…/redis.sock``),
which kombu's Redis transport connects to natively.
"""

from __future__ import annotations

import os

from celery import Celery

# Before the app is built: Celery's Django fixup (django.setup() in workers, closing stale DB
# connections around tasks) installs itself only when this variable is set.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mso_platform.settings.dev")

app = Celery("mso_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
