# One image for web (gunicorn), Celery worker and Celery beat; docker-compose.yml runs it.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=mso_platform.settings.production

# WeasyPrint (PDF reports) needs Pango and HarfBuzz from the system, and fonts to set text in.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core shared-mime-info \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Dependencies first (pyproject.toml lists them all), so a code change reuses this layer.
COPY pyproject.toml README.md ./
RUN pip install .
COPY . .

# Settings need URLs to import; collectstatic connects to neither server, so placeholders do.
RUN DATABASE_URL=postgres://collectstatic@localhost/none REDIS_URL=redis://localhost:6379/0 \
    SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin mso
USER mso
EXPOSE 8000
CMD ["gunicorn", "mso_platform.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "2", "--access-logfile", "-", "--no-control-socket"]
