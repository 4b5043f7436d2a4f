"""For Celery's discovery: the tasks live beside the functions they run."""

from connection import health, secret_expiry  # noqa: F401
