from django.apps import AppConfig


class OrganizationsConfig(AppConfig):
    name = "organizations"
    label = "tenants"  # the label of its tables, content types and permissions since the first release
    verbose_name = "Organizations"

    def ready(self) -> None:
        from organizations import receivers  # noqa: F401
