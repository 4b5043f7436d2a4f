from django.apps import AppConfig

from casportal.collectors import register_collector
from casportal.readiness import register_check


class ConnectionConfig(AppConfig):
    name = "connection"
    verbose_name = "Connection health"

    def ready(self) -> None:
        # Both read models, importable only once the registry is ready.
        from connection.credential import readiness_check
        from connection.metrics import ConnectionCollector, GraphCollector

        register_check("credential", readiness_check, critical=False)
        register_collector(ConnectionCollector())
        register_collector(GraphCollector())
