"""For Celery's discovery: the tasks live beside the functions they run."""

from coverage import verify  # noqa: F401
