import os

from celery import Celery
from kombu import Queue

from casportal import queues

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casportal.settings")

app = Celery("casportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in queues.ALL]
app.autodiscover_tasks()
