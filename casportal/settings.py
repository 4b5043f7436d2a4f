"""casportal settings: everything comes from the environment, with development defaults.

`DJANGO_ENV` is `development` (default) or `production`. Production refuses to start
without the secrets it needs; development works on a bare machine with SQLite under `var/`,
kombu's filesystem broker and console email.
"""

import base64
import hashlib
import ipaddress
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from casportal import queues
from casportal.env import (
    env_bool,
    env_choice,
    env_int,
    env_int_list,
    env_list,
    env_required,
    env_secret,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("CASPORTAL_VAR_DIR") or BASE_DIR / "var")

DJANGO_ENV = env_choice("DJANGO_ENV", "development", ("development", "production"))
PRODUCTION = DJANGO_ENV == "production"

if PRODUCTION:
    SECRET_KEY = env_required("SECRET_KEY")
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [])
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set in production.")
else:
    SECRET_KEY = env_secret("SECRET_KEY") or "development-only-insecure-secret-key-do-not-use-in-production"
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])

DEBUG = env_bool("DEBUG", default=DJANGO_ENV == "development")
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off in production.")

CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# First key encrypts, every key decrypts (MultiFernet): rotate by prepending a new key.
if PRODUCTION:
    FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS", [])
    if not FIELD_ENCRYPTION_KEYS:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS (or FIELD_ENCRYPTION_KEYS_FILE) must be set in production.")
else:
    FIELD_ENCRYPTION_KEYS = env_list(
        "FIELD_ENCRYPTION_KEYS",
        [base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()],
    )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "django_celery_beat",
    "casportal",
    "audit",
    "accounts",
    "organizations",
    "provisioning",
    "connection",
    "directory",
    "coverage",
    "grant",
    "support",
]

MIDDLEWARE = [
    "casportal.logcontext.RequestContextMiddleware",
    "casportal.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.StaffMFAMiddleware",
    "audit.middleware.AuditContextMiddleware",
]

ROOT_URLCONF = "casportal.urls"
WSGI_APPLICATION = "casportal.wsgi.application"
ASGI_APPLICATION = "casportal.asgi.application"

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
                "organizations.context_processors.organizations",
                "connection.context_processors.connection_banners",
            ],
        },
    },
]

# Database: PostgreSQL when DATABASE_URL is set, otherwise SQLite tuned for several processes.
DATABASE_URL = env_secret("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
elif PRODUCTION:
    raise ImproperlyConfigured("DATABASE_URL must be set in production.")
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "casportal.sqlite3"),
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# Redis (broker and cache) when configured; otherwise file-based, so several local processes share them.
REDIS_URL = env_secret("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # A down or unroutable Redis fails /readyz and requests in seconds, not after the OS's TCP timeout.
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

CELERY_BROKER_URL = env_secret("CELERY_BROKER_URL") or REDIS_URL or "filesystem://"
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 3600)
if PRODUCTION and not REDIS_URL:
    raise ImproperlyConfigured("REDIS_URL must be set in production (the cache for rate limits, and the broker).")
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    for _folder in ("queue", "control"):  # kombu's file-system transport expects them to exist
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
else:
    # Above the longest task and the longest countdown: Redis redelivers an unacknowledged task after it.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
        # Sweep for a dead worker's messages every few seconds (kombu's default is 10 x 10 s).
        "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_INTERVAL", 5),
        "unacked_restore_throttle": 1,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = queues.DEFAULT
CELERY_TASK_ROUTES = {
    "provisioning.sync_batch": {"queue": queues.SYNC},
    "provisioning.probe_connection": {"queue": queues.HEALTH},
    "provisioning.probe_connections": {"queue": queues.HEALTH},
}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

# allauth: email login, no open sign-up (invitations only), MFA with TOTP and recovery codes.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_ADAPTER = "organizations.signup.InvitationAccountAdapter"
# Login limits. Failed logins are refused per (account, client address), the key `accounts.adapters` builds, and
# per client address at a higher threshold, so one address cannot lock an account out for everyone. Successful
# logins have no per-address limit (allauth's "login" one is off): behind NAT or a proxy many customers share one.
# Across addresses an account's failures only slow its next attempts, up to a cap, and never refuse the right
# password (`accounts/loginlimits.py`).
LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS = env_int("LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS", 5)
LOGIN_FAILURES_PER_ADDRESS = env_int("LOGIN_FAILURES_PER_ADDRESS", 30)
LOGIN_FAILURE_WINDOW_MINUTES = env_int("LOGIN_FAILURE_WINDOW_MINUTES", 5)
LOGIN_ACCOUNT_FAILURES_BEFORE_DELAY = env_int("LOGIN_ACCOUNT_FAILURES_BEFORE_DELAY", 10)
LOGIN_ACCOUNT_FAILURE_WINDOW_MINUTES = env_int("LOGIN_ACCOUNT_FAILURE_WINDOW_MINUTES", 15)
LOGIN_ACCOUNT_DELAY_MAX_SECONDS = env_int("LOGIN_ACCOUNT_DELAY_MAX_SECONDS", 8)
if not 0 < LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS < LOGIN_FAILURES_PER_ADDRESS:
    raise ImproperlyConfigured(
        "LOGIN_FAILURES_PER_ADDRESS must be higher than LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS, and both above 0 "
        f"(they are {LOGIN_FAILURES_PER_ADDRESS} and {LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS})."
    )
if (
    min(
        LOGIN_FAILURE_WINDOW_MINUTES,
        LOGIN_ACCOUNT_FAILURES_BEFORE_DELAY,
        LOGIN_ACCOUNT_FAILURE_WINDOW_MINUTES,
        LOGIN_ACCOUNT_DELAY_MAX_SECONDS,
    )
    < 1
):
    raise ImproperlyConfigured(
        "LOGIN_FAILURE_WINDOW_MINUTES, LOGIN_ACCOUNT_FAILURES_BEFORE_DELAY, LOGIN_ACCOUNT_FAILURE_WINDOW_MINUTES and "
        "LOGIN_ACCOUNT_DELAY_MAX_SECONDS must be 1 or more."
    )
ACCOUNT_RATE_LIMITS = {
    "login": "",
    "login_failed": f"{LOGIN_FAILURES_PER_ADDRESS}/{LOGIN_FAILURE_WINDOW_MINUTES}m/ip,"
    f"{LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS}/{LOGIN_FAILURE_WINDOW_MINUTES}m/key",
    "reset_password": "20/m/ip,5/m/key",
}
# The client address: REMOTE_ADDR, unless proxies in front are trusted to say who the client is. Set one of these
# only behind such proxies, else any client names its own address. allauth reads them; so do the audit log and the
# portal's own limits, through `casportal.clientip`.
ALLAUTH_TRUSTED_PROXY_COUNT = env_int("ALLAUTH_TRUSTED_PROXY_COUNT", 0)
ALLAUTH_TRUSTED_CLIENT_IP_HEADER = env_str("ALLAUTH_TRUSTED_CLIENT_IP_HEADER") or None
if ALLAUTH_TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured(f"ALLAUTH_TRUSTED_PROXY_COUNT must be 0 or more (it is {ALLAUTH_TRUSTED_PROXY_COUNT}).")
MFA_ADAPTER = "accounts.adapters.MFAAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "casportal"
LOGIN_REDIRECT_URL = "home"
LOGIN_URL = "account_login"

INVITATION_TTL_DAYS = 7

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Email: console in development, SMTP in production.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if PRODUCTION else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=PRODUCTION)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "casportal <noreply@casportal.test>")
SERVER_EMAIL = env_str("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
STAFF_ALERT_EMAILS = env_list("STAFF_ALERT_EMAILS", [] if PRODUCTION else ["support@casportal.test"])
PORTAL_BASE_URL = (env_str("PORTAL_BASE_URL") or "http://127.0.0.1:8000").rstrip("/")

# Security headers; the HTTPS-only ones switch on in production.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=PRODUCTION)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=PRODUCTION)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=PRODUCTION)
if env_bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
# Observability: JSON logs carrying the organization, request or task id and sync run; /metrics; Sentry.
LOG_FORMAT = env_choice("LOG_FORMAT", "plain", ("plain", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "casportal.logcontext.ContextFilter"},
        "redact": {"()": "casportal.logcontext.RedactSecretsFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context", "redact"]}
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # MSAL's token cache logs authorization codes and PKCE verifiers at DEBUG: never let it.
    "loggers": {"msal": {"level": "INFO"}},
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # workers log through LOGGING too, so their lines carry the task id
METRICS_TOKEN = env_secret("METRICS_TOKEN") or None
try:
    METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network(cidr) for cidr in env_list("METRICS_ALLOWED_NETWORKS", [])]
except ValueError as exc:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {exc}") from exc
SENTRY_DSN = env_secret("SENTRY_DSN")
if SENTRY_DSN:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        environment=env_str("SENTRY_ENVIRONMENT", DJANGO_ENV),
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
    )
if DATABASE_URL and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A down database fails /readyz in seconds (libpq otherwise waits for the OS's TCP timeout).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", env_int("DB_CONNECT_TIMEOUT", 5))

# The grant flow: right after consent Microsoft takes a while before app-only tokens work, and publishes no figure
# for how long; the wait checks with backoff (from RETRY up to RETRY_MAX seconds apart) until the budget is spent.
GRANT_ACCESS_WAIT_SECONDS = env_int("GRANT_ACCESS_WAIT_SECONDS", 120)
GRANT_ACCESS_RETRY_SECONDS = env_int("GRANT_ACCESS_RETRY_SECONDS", 5)
GRANT_ACCESS_RETRY_MAX_SECONDS = env_int("GRANT_ACCESS_RETRY_MAX_SECONDS", 30)
# Graph lookups behind the certain-users picker, per organization and minute.
USER_PICKER_LOOKUPS_PER_MINUTE = env_int("USER_PICKER_LOOKUPS_PER_MINUTE", 30)
# Grant callbacks reached without a portal session, per client IP and minute.
GRANT_CALLBACK_ANONYMOUS_PER_MINUTE = env_int("GRANT_CALLBACK_ANONYMOUS_PER_MINUTE", 20)

# Directory synchronization: short tasks, each a batch of pages, continued by the next.
SYNC_PAGE_SIZE = env_int("SYNC_PAGE_SIZE", 999)
SYNC_PAGES_PER_BATCH = env_int("SYNC_PAGES_PER_BATCH", 20)
# The groups chain of a sync runs beside the users chain (on) or after it (off: the sequential design, which
# `make bench` measures to compare with).
SYNC_CONCURRENT_CHAINS = env_bool("SYNC_CONCURRENT_CHAINS", True)
SYNC_LEASE_SECONDS = env_int("SYNC_LEASE_SECONDS", 300)
SYNC_MAX_COUNTDOWN_SECONDS = env_int("SYNC_MAX_COUNTDOWN_SECONDS", 300)
SYNC_MAX_RETRIES = env_int("SYNC_MAX_RETRIES", 8)
# Rounds begun again in one run because Microsoft expired a page token (a stored nextLink); then the run fails.
SYNC_MAX_LISTING_RESTARTS = env_int("SYNC_MAX_LISTING_RESTARTS", 3)
# A run that no batch holds and that has not moved for this long is resumed by the watchdog.
SYNC_STALL_SECONDS = env_int("SYNC_STALL_SECONDS", 600)
# The daily syncs of a region start over this many seconds after its time, each organization at its own offset.
SYNC_SCHEDULE_WINDOW_SECONDS = env_int("SYNC_SCHEDULE_WINDOW_SECONDS", 3 * 3600)
# Coverage verification: short tasks, each checking this many objects (20 to a Graph batch), continued by the next.
COVERAGE_OBJECTS_PER_TASK = env_int("COVERAGE_OBJECTS_PER_TASK", 400)
COVERAGE_LEASE_SECONDS = env_int("COVERAGE_LEASE_SECONDS", 600)
# Graph batches a coverage task sends at a time: each request reaches another mailbox, so Outlook's four
# concurrent requests per app and mailbox are never approached.
COVERAGE_CONCURRENT_BATCHES = env_int("COVERAGE_CONCURRENT_BATCHES", 4)
# The share of the application's SharePoint resource-unit budget in a tenant that OneDrive checks may use.
COVERAGE_SHAREPOINT_BUDGET_PERCENT = env_int("COVERAGE_SHAREPOINT_BUDGET_PERCENT", 50)
# How often a granted service's coverage is verified without a sync (the hourly probe's rotation assumes an hour).
COVERAGE_PROBE_SECONDS = env_int("COVERAGE_PROBE_SECONDS", 3600)
# An object not covered (no mailbox yet, no OneDrive yet, refused) is checked again after this long.
COVERAGE_UNCOVERED_RECHECK_SECONDS = env_int("COVERAGE_UNCOVERED_RECHECK_SECONDS", 6 * 3600)
# Data lifecycle: older audit events and sync runs are deleted by a daily purge.
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 400)
SYNC_RUN_RETENTION_DAYS = env_int("SYNC_RUN_RETENTION_DAYS", 90)
if SYNC_MAX_COUNTDOWN_SECONDS >= SYNC_STALL_SECONDS:
    raise ImproperlyConfigured("SYNC_STALL_SECONDS must exceed SYNC_MAX_COUNTDOWN_SECONDS.")
if max(SYNC_LEASE_SECONDS, SYNC_MAX_COUNTDOWN_SECONDS) >= CELERY_VISIBILITY_TIMEOUT:
    raise ImproperlyConfigured(
        "CELERY_VISIBILITY_TIMEOUT must exceed SYNC_LEASE_SECONDS and SYNC_MAX_COUNTDOWN_SECONDS, "
        "or Redis redelivers tasks that are still running or waiting."
    )
CELERY_BEAT_SCHEDULE = {
    "dispatch-scheduled-syncs": {"task": "provisioning.dispatch_scheduled_syncs", "schedule": 300.0},
    "dispatch-coverage-verifications": {"task": "coverage.dispatch_verifications", "schedule": 60.0},
    "resume-stalled-syncs": {"task": "provisioning.resume_stalled_syncs", "schedule": 120.0},
    "probe-connections": {"task": "provisioning.probe_connections", "schedule": 3600.0},
    "purge-expired-records": {"task": "provisioning.purge_expired_records", "schedule": 86400.0},
    "warn-of-secret-expiry": {"task": "provisioning.warn_of_secret_expiry", "schedule": 86400.0},
}

# Microsoft identity platform and Graph.
# The portal's app registration: one multi-tenant application, its secret and the secret's expiry,
# so operators are warned ahead of it. Development defaults match the simulator's seeded registration.
MICROSOFT_CLIENT_ID = env_str("MICROSOFT_CLIENT_ID", None if PRODUCTION else "6f1e4a52-3c1b-4f3e-9a57-2b8d0c5e7a11")
MICROSOFT_CLIENT_SECRET = env_secret("MICROSOFT_CLIENT_SECRET", None if PRODUCTION else "m365sim-development-secret")
if PRODUCTION and not (MICROSOFT_CLIENT_ID and MICROSOFT_CLIENT_SECRET):
    raise ImproperlyConfigured("MICROSOFT_CLIENT_ID and MICROSOFT_CLIENT_SECRET must be set in production.")
MICROSOFT_CLIENT_SECRET_EXPIRES_ON = env_str("MICROSOFT_CLIENT_SECRET_EXPIRES_ON", "")  # ISO date, e.g. 2027-01-31
# Days before that expiry when staff are emailed, once each; the admin banner shows from the first.
_warning_days = env_int_list("MICROSOFT_CLIENT_SECRET_WARNING_DAYS", [30, 7])
if not _warning_days or _warning_days[-1] <= 0 or _warning_days != sorted(set(_warning_days), reverse=True):
    raise ImproperlyConfigured("MICROSOFT_CLIENT_SECRET_WARNING_DAYS must be positive days, descending: e.g. 30,7.")
MICROSOFT_CLIENT_SECRET_WARNING_DAYS = tuple(_warning_days)
MICROSOFT_HTTP_TIMEOUT = env_int("MICROSOFT_HTTP_TIMEOUT", 30)  # seconds, on every call to Microsoft
# The local simulator (development and tests only): MSAL and Graph calls to Microsoft's https hosts are rerouted
# there, and the browser is sent there for sign-in. Empty: talk to Microsoft.
SIM_PORT = env_int("SIM_PORT", 8001)
MICROSOFT_SIMULATOR_URL = (
    env_str("MICROSOFT_SIMULATOR_URL", "" if PRODUCTION else f"http://localhost:{SIM_PORT}") or ""
).rstrip("/")
if PRODUCTION and MICROSOFT_SIMULATOR_URL:
    raise ImproperlyConfigured("MICROSOFT_SIMULATOR_URL must not be set in production.")
MICROSOFT_LOGIN_HOST = (
    env_str("MICROSOFT_LOGIN_HOST") or MICROSOFT_SIMULATOR_URL or "https://login.microsoftonline.com"
).rstrip("/")
GRAPH_BASE_URL = (env_str("GRAPH_BASE_URL") or "https://graph.microsoft.com/v1.0").rstrip("/")
# Grant Permission posts a form that redirects the browser to Microsoft's sign-in.
CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"].append(MICROSOFT_LOGIN_HOST)

if not PRODUCTION:
    # The simulator: never installed in production; its state lives in its own database.
    INSTALLED_APPS.append("m365sim")
    _sim_database_url = env_secret("M365SIM_DATABASE_URL")
    if _sim_database_url:
        DATABASES["m365sim"] = dj_database_url.parse(_sim_database_url)
    elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        DATABASES["m365sim"] = {**DATABASES["default"], "NAME": str(VAR_DIR / "m365sim.sqlite3")}
    else:
        DATABASES["m365sim"] = {**DATABASES["default"], "NAME": f"{DATABASES['default']['NAME']}_m365sim"}
    DATABASE_ROUTERS = ["m365sim.routers.SimulatorRouter"]
    # Microsoft documents no lifetime for $skiptoken page tokens (Directory_ExpiredPageToken); an hour outlasts
    # the portal's longest pause between pages (a 300 s back-off or lease), so only a test expires them.
    M365SIM_PAGE_TOKEN_LIFETIME_SECONDS = env_int("M365SIM_PAGE_TOKEN_LIFETIME_SECONDS", 3600)
    # Delta page caps, whatever Prefer: odata.maxpagesize asks: users per users-delta page, and members@delta
    # entries per groups-delta page. Figures from a Microsoft moderator on Microsoft Q&A; Microsoft documents none.
    M365SIM_USERS_DELTA_PAGE_CAP = env_int("M365SIM_USERS_DELTA_PAGE_CAP", 200)
    M365SIM_MEMBERS_DELTA_PAGE_CAP = env_int("M365SIM_MEMBERS_DELTA_PAGE_CAP", 500)
    # The control API's bearer token; empty: m365sim_serve makes one for its run (var/m365sim-control-token).
    M365SIM_CONTROL_TOKEN = env_secret("M365SIM_CONTROL_TOKEN") or ""
