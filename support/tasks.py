"""For Celery's discovery: the tasks live beside the functions they run."""

from support import lifecycle  # noqa: F401
