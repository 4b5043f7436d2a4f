from django.apps import AppConfig


class CoverageConfig(AppConfig):
    name = "coverage"
    verbose_name = "Coverage"

    def ready(self) -> None:
        # The directory knows nothing of coverage: it says when a sync succeeded, and coverage follows at once.
        from coverage.verify import verify_after_sync
        from directory.signals import sync_succeeded

        sync_succeeded.connect(verify_after_sync, dispatch_uid="coverage.verify_after_sync")
