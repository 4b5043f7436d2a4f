from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class M365SimConfig(AppConfig):
    name = "m365sim"
    verbose_name = "Microsoft 365 simulator"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        if settings.DJANGO_ENV == "production":
            raise ImproperlyConfigured("m365sim is a development simulator and refuses to load in production.")
