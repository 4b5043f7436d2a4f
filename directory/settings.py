"""Staff's changes of an organization's sync settings, and the sync-mode rule they keep.

Customers choose the option at their first grant and may only extend certain users to all users; support may
change the option and the daily time in Django admin, within the same rule.
"""

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction

from audit.admin_log import record_admin_event
from audit.models import Action
from audit.services import Actor
from connection.models import ServiceAccount
from directory import runs
from directory.models import MAX_SELECTED_USERS, SelectedUser, SyncMode, SyncSettings
from organizations.services import lock_organization

RULE = (
    "The option is stored once per organization and shared by Exchange Online, SharePoint Online, OneDrive and "
    "Microsoft Teams."
)


def check_sync_settings(*, sync_settings: SyncSettings, mode: str, daily_sync_time: dt.time | None) -> None:
    """Raise ValidationError, by field, if `sync_settings` (as stored) may not become `mode` at `daily_sync_time`.

    No option before the first grant, no change to certain users, no schedule in certain-users mode, at most
    MAX_SELECTED_USERS chosen users; certain → all is Extend to all users.
    """
    organization = sync_settings.organization
    errors: dict[str, list[str]] = {}
    if sync_settings.mode != mode and not ServiceAccount.objects.filter(organization=organization).exists():
        errors["mode"] = [
            "No Microsoft 365 service of this organization has access yet: the option is chosen when the first one "
            "is granted."
        ]
    elif sync_settings.mode == SyncMode.ALL and mode == SyncMode.CERTAIN:
        errors["mode"] = [f"An organization that synchronizes all users cannot go back to certain users. {RULE}"]
    if mode == SyncMode.CERTAIN:
        if daily_sync_time is not None:
            errors["daily_sync_time"] = [
                "There is no scheduled synchronization in certain-users mode: leave the time empty."
            ]
        chosen = SelectedUser.objects.filter(organization=organization).count()
        if chosen > MAX_SELECTED_USERS:
            errors["__all__"] = [
                f"At most {MAX_SELECTED_USERS} users can be synchronized in certain-users mode; {chosen} are chosen."
            ]
    if errors:
        raise ValidationError(errors)


def _shown(value: object) -> str:
    return "" if value is None else str(value)


@transaction.atomic
def change_sync_settings(
    *, sync_settings: SyncSettings, mode: str, daily_sync_time: dt.time | None, actor: Actor
) -> SyncSettings:
    """Change the option and the daily time within the rule, audited as a change in admin by `actor`.

    Certain → all is what Extend to all users does in the portal: every service at once, audited, then a full
    round. Raises ValidationError (the rule) or SyncRefused (Extend to all users refused); nothing is changed then.
    """
    lock_organization(sync_settings.organization_id)
    stored = SyncSettings.objects.select_for_update().select_related("organization").get(pk=sync_settings.pk)
    check_sync_settings(sync_settings=stored, mode=mode, daily_sync_time=daily_sync_time)
    changes = {
        name: [_shown(before), _shown(after)]
        for name, before, after in (
            ("mode", stored.mode, mode),
            ("daily_sync_time", stored.daily_sync_time, daily_sync_time),
        )
        if before != after
    }
    if not changes:
        return stored
    if stored.mode == SyncMode.CERTAIN and mode == SyncMode.ALL:
        runs.extend_to_all_users(organization=stored.organization, actor=actor)
        stored.refresh_from_db()
    if daily_sync_time != stored.daily_sync_time:
        stored.next_due_at = None  # computed again by the dispatcher: a time moved earlier is kept the same day
    stored.mode, stored.daily_sync_time = mode, daily_sync_time
    stored.save(update_fields=["mode", "daily_sync_time", "next_due_at", "updated_at"])
    record_admin_event(Action.ADMIN_CHANGED, actor=actor, obj=stored, changes=changes)
    return stored
