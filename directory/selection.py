"""Certain-users mode: the chosen users, and the directory lookups the picker makes to find them."""

import uuid
from dataclasses import dataclass

from django.db import transaction

from accounts.actors import user_of
from audit.models import Action
from audit.services import Actor, record_event
from casportal.errors import ActionRefused
from directory import runs
from directory.engine import request_sync
from directory.models import MAX_SELECTED_USERS, SelectedUser, SyncKind, SyncTrigger
from directory.normalize import clean_text
from directory.ordering import naturally_sorted
from microsoft import graph
from organizations.models import Organization


class SelectionError(ActionRefused):
    """A change to the chosen users that cannot be made; the message says why."""


@dataclass(frozen=True)
class Listed:
    """A user or a group as the picker shows and stores it: Microsoft's text through `clean_text`, so a name
    cannot pose as another (bidirectional controls) however Microsoft sent it."""

    id: str
    display_name: str
    user_principal_name: str = ""


def listed_user(user: graph.DirectoryUser) -> Listed:
    return Listed(
        id=user.id,
        display_name=clean_text(user.display_name, 256)[0],
        user_principal_name=clean_text(user.user_principal_name, 255)[0],
    )


def listed_group(group: graph.DirectoryGroup) -> Listed:
    return Listed(id=group.id, display_name=clean_text(group.display_name, 256)[0])


@dataclass(frozen=True)
class Found:
    """What a directory search found, in reading order; `more`: Microsoft has more than were asked for."""

    items: list[Listed]
    more: bool


# Directory objects take $search only as an advanced query (ConsistencyLevel: eventual): it matches the words of
# displayName (any order, any case, each word by its beginning) and other properties by their beginning.
# https://learn.microsoft.com/graph/search-query-parameter#using-search-on-directory-object-collections
EVENTUAL = {"ConsistencyLevel": "eventual"}


def _clause(prop: str, text: str) -> str:
    # "If it contains double quotes or backslash, it should be escaped with a backslash."
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{prop}:{escaped}"'


class DirectorySearch(graph.GraphClient):
    """The picker's searches of the customer's directory, on top of the portal's Graph client."""

    def group(self, group_id: str) -> Listed:
        """The group by id (`errors.GraphError` 404 when it does not exist)."""
        return listed_group(
            graph.DirectoryGroup.from_graph(self._get(f"groups/{group_id}", params={"$select": graph.GROUP_FIELDS}))
        )

    def find_users(self, text: str, *, limit: int) -> Found:
        """Users whose display name has words beginning with those of `text`, or whose user principal name
        begins with `text`."""
        params = {
            "$search": f"{_clause('displayName', text)} OR {_clause('userPrincipalName', text)}",
            "$select": graph.USER_FIELDS,
            "$top": str(limit),
        }
        page = self._page("users", graph.DirectoryUser.from_graph, params, headers=EVENTUAL)
        users = naturally_sorted(map(listed_user, page.items), lambda u: u.user_principal_name)
        return Found(users, more=page.next_link is not None)

    def find_groups(self, text: str, *, limit: int) -> Found:
        """Groups whose display name has words beginning with each word of `text`."""
        params = {"$search": _clause("displayName", text), "$select": graph.GROUP_FIELDS, "$top": str(limit)}
        page = self._page("groups", graph.DirectoryGroup.from_graph, params, headers=EVENTUAL)
        return Found(
            naturally_sorted(map(listed_group, page.items), lambda g: g.display_name), more=page.next_link is not None
        )


@transaction.atomic
def add_selected_users(*, organization: Organization, users: list[Listed], actor: Actor) -> list[SelectedUser]:
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
