from django.apps import AppConfig
from django.db.models.signals import post_migrate

from casportal.collectors import register_collector


class SupportConfig(AppConfig):
    name = "support"
    verbose_name = "Support"

    def ready(self) -> None:
        from directory.metrics import SyncCollector
        from support.staff import sync_group_permissions

        post_migrate.connect(sync_group_permissions, dispatch_uid="casportal.staff_group_permissions")
        register_collector(SyncCollector())
