# casportal: one image for the portal (gunicorn, the default command), the Celery worker and beat (compose.yaml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=casportal.settings \
    CASPORTAL_VAR_DIR=/app/var \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus

RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home casportal
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY --chown=root:root . .
# Production settings refuse to load without their secrets: collectstatic gets build-only dummies, never used at
# run time (the real values come from the environment). The collected files stay read-only for the app user.
RUN DJANGO_ENV=production \
    SECRET_KEY=build-only-not-a-secret \
    FIELD_ENCRYPTION_KEYS=YnVpbGQtb25seS1ub3QtYS1rZXktMDEyMzQ1Njc4OTA= \
    DATABASE_URL=postgres://build@localhost/build \
    REDIS_URL=redis://localhost:6379/0 \
    ALLOWED_HOSTS=build \
    MICROSOFT_CLIENT_ID=build \
    MICROSOFT_CLIENT_SECRET=build \
    python manage.py collectstatic --noinput

USER casportal
EXPOSE 8000
# gunicorn takes its worker count from WEB_CONCURRENCY; the metrics folder is shared by those workers and must
# start empty.
CMD ["sh", "-c", "rm -rf \"$PROMETHEUS_MULTIPROC_DIR\" && mkdir -p \"$PROMETHEUS_MULTIPROC_DIR\" && exec gunicorn casportal.wsgi --bind 0.0.0.0:8000 --access-logfile -"]
