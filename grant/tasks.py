"""For Celery's discovery: the tasks live beside the functions they run."""

from grant import access  # noqa: F401
