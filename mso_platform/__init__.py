"""MSO Platform project package: settings, URLs, Celery app and the PostgreSQL boundary plumbing."""

from mso_platform.db.schemas import install_schema_placement

# Must run before any model class is created, so every app's tables get their schema.
install_schema_placement()
