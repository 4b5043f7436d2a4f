from django.apps import AppConfig
from django.db.models.signals import post_save


class DirectoryConfig(AppConfig):
    name = "directory"
    verbose_name = "Directory synchronization"

    def ready(self) -> None:
        # Models can be imported only once the registry is ready; organizations/ knows nothing of this hook.
        from directory.models import create_sync_settings
        from organizations.models import Organization

        post_save.connect(create_sync_settings, sender=Organization, dispatch_uid="directory.create_sync_settings")
