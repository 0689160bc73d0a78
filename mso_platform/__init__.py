"""MSO Platform project package: settings, URLs, Celery app and the PostgreSQL boundary plumbing."""

from mso_platform.db.schemas import install_schema_placement

# Must run before any model class is created, so every app's tables get their schema.
install_schema_placement()

# Loaded with Django so that @shared_task binds to this app and `celery -A mso_platform` finds it.
from mso_platform.celery import app as celery_app  # noqa: E402

__all__ = ["celery_app"]
