"""Certain-users mode: the chosen users."""

import uuid

from django.db import transaction

from accounts.actors import user_of
from audit.models import Action
from audit.services import Actor, record_event
from casportal.errors import ActionRefused
from directory import runs
from directory.engine import request_sync
from directory.models import MAX_SELECTED_USERS, SelectedUser, SyncKind, SyncTrigger
from microsoft import graph
from organizations.models import Organization


class SelectionError(ActionRefused):
    """A change to the chosen users that cannot be made; the message says why."""


@transaction.atomic
def add_selected_users(
    *, organization: Organization, users: list[graph.DirectoryUser], actor: Actor
) -> list[SelectedUser]:
    existing = set(
        SelectedUser.objects.select_for_update()
        .filter(organization=organization)
        .values_list("microsoft_id", flat=True)
    )
    new = [user for user in users if uuid.UUID(user.id) not in existing]
    if len(existing) + len(new) > MAX_SELECTED_USERS:
        raise SelectionError(
            f"At most {MAX_SELECTED_USERS} users can be synchronized for testing; "
            f"{len(existing)} are chosen, so {MAX_SELECTED_USERS - len(existing)} more can be added."
        )
    added = SelectedUser.objects.bulk_create(
        SelectedUser(
            organization=organization,
            microsoft_id=uuid.UUID(user.id),
            user_principal_name=user.user_principal_name,
            display_name=user.display_name,
            added_by=user_of(actor),
        )
        for user in new
    )
    for row in added:
        record_event(Action.SELECTED_USER_ADDED, actor=actor, organization=organization, target=row.user_principal_name)
    if added:
        _sync_edited_list(organization, actor)
    return added


def _sync_edited_list(organization: Organization, actor: Actor) -> None:
    """Once the first synchronization is done, each change of the chosen users is synchronized at once."""
    service = runs.first_connected_service(organization, synchronized=True)
    if service is not None:
        request_sync(service=service, kind=SyncKind.CERTAIN_USERS, trigger=SyncTrigger.LIST_EDIT, actor=actor)


@transaction.atomic
def remove_selected_user(*, selected: SelectedUser, actor: Actor) -> None:
    selected.delete()
    record_event(
        Action.SELECTED_USER_REMOVED,
        actor=actor,
        organization=selected.organization,
        target=selected.user_principal_name,
    )
    _sync_edited_list(selected.organization, actor)
