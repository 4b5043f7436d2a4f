"""Test overrides: fast hashing, in-memory email and cache; the database still comes from DATABASE_URL."""

from casportal.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_TASK_ALWAYS_EAGER = True
LOGGING = {**LOGGING, "root": {"handlers": ["console"], "level": "WARNING"}}  # noqa: F405
WHITENOISE_AUTOREFRESH = True  # no collected static files in tests
# Microsoft is never reachable from tests: the m365sim fixtures point these at the simulator.
MICROSOFT_SIMULATOR_URL = "http://m365sim.invalid"
MICROSOFT_LOGIN_HOST = MICROSOFT_SIMULATOR_URL
M365SIM_CONTROL_TOKEN = "control-token-of-the-tests"  # noqa: S105 (a test value)
# One batch at a time: the in-process simulator answers on the test's own database connection, which other threads
# do not share inside a test's transaction.
COVERAGE_CONCURRENT_BATCHES = 1
