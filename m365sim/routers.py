"""The simulator's rows live in their own database, so its state never shares a transaction with the portal's."""

from typing import Any

from django.db.models import Model

ALIAS = "m365sim"
APP_LABEL = "m365sim"


class SimulatorRouter:
    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        return ALIAS if model._meta.app_label == APP_LABEL else None

    db_for_write = db_for_read

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        labels = {obj1._meta.app_label, obj2._meta.app_label}
        if APP_LABEL in labels:
            return labels == {APP_LABEL}
        return None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        if app_label == APP_LABEL:
            return db == ALIAS
        return False if db == ALIAS else None
