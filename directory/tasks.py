"""For Celery's discovery: the tasks live beside the functions they run."""

from directory import engine, schedule  # noqa: F401
