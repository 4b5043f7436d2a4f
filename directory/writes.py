"""Writing Graph's pages into the synchronized directory: one set-based statement per kind of row.

Each writer reports how many rows it added and updated, so a sync run can count its changes. A row counts once
per round (`since`, when the round began): Microsoft may send the same object again in a round (replays, a large
group's members continued on the next page), and a row already written in the round with the same values is
neither written again nor counted.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, models
from django.db.models import Q
from django.utils import timezone

from directory.models import MEMBER_TYPE_LENGTH, DirectoryGroup, DirectoryUser, GroupMembership, GroupType
from directory.normalize import clean_text
from microsoft import graph


@dataclass
class Changes:
    added: int = 0
    updated: int = 0
    removed: int = 0

    def __iadd__(self, other: "Changes") -> "Changes":
        self.added += other.added
        self.updated += other.updated
        self.removed += other.removed
        return self


def group_type(group: graph.DirectoryGroup) -> str:
    # https://learn.microsoft.com/graph/api/resources/groups-overview#group-types-in-microsoft-entra-id-and-microsoft-graph
    if "Unified" in group.group_types:
        return GroupType.MICROSOFT_365
    if group.mail_enabled and group.security_enabled:
        return GroupType.MAIL_ENABLED_SECURITY
    if group.mail_enabled:
        return GroupType.DISTRIBUTION
    return GroupType.SECURITY


# Object ids stay the strings Graph sends: the database parses them (faster than uuid.UUID, see `make bench`).
UserRow = tuple[str, str, str, str, bool, bool, bool]
GroupRow = tuple[str, str, str, str, bool]


def _user_row(user: graph.DirectoryUser) -> UserRow:
    upn, upn_changed = clean_text(user.user_principal_name, 255)
    name, name_changed = clean_text(user.display_name, 256)
    mail, mail_changed = clean_text(user.mail, 255)
    enabled, licensed = user.account_enabled is not False, bool(user.assigned_license_skus)
    return user.id, upn, name, mail, enabled, licensed, upn_changed or name_changed or mail_changed


def _group_row(group: graph.DirectoryGroup) -> GroupRow:
    name, name_changed = clean_text(group.display_name, 256)
    mail, mail_changed = clean_text(group.mail, 255)
    return group.id, name, mail, group_type(group), name_changed or mail_changed


USER_COLUMNS = (
    "microsoft_id",
    "user_principal_name",
    "display_name",
    "mail",
    "account_enabled",
    "is_licensed",
    "normalized",
)
GROUP_COLUMNS = ("microsoft_id", "display_name", "mail", "group_type", "normalized")
MEMBERSHIP_COLUMNS = ("group_id", "member_id", "member_type")


def _merge(
    model: type[models.Model],
    organization_id: int,
    columns: tuple[str, ...],
    rows: Sequence[tuple],
    conflict: tuple[str, ...],
    *,
    since: datetime | None = None,
) -> Changes:
    """Upsert a page's rows in one statement; PostgreSQL goes through COPY into a staging table. Objects are
    counted, added or updated; with `since`, a row already written since then counts (and is written) only when
    its values changed.

    Measured (`make bench`): on PostgreSQL the staging table is several times faster than INSERT with
    bind parameters, which must build a model instance per row.
    """
    if not rows:
        return Changes()
    now = timezone.now()
    if connection.vendor == "postgresql":
        return _merge_with_copy(
            model._meta.db_table, organization_id, columns, rows, conflict=conflict, now=now, since=since
        )
    changes = Changes()
    if conflict == ("microsoft_id",):
        stored = {
            str(values[0]): values[1:]
            for values in model._default_manager.filter(
                organization_id=organization_id, microsoft_id__in=[row[0] for row in rows]
            ).values_list(*columns, "synced_at")
        }
        for row in rows:
            if row[0] not in stored:
                changes.added += 1
            elif since is None or stored[row[0]][-1] < since or tuple(stored[row[0]][:-1]) != tuple(row[1:]):
                changes.updated += 1
    model._default_manager.bulk_create(
        [model(organization_id=organization_id, synced_at=now, **dict(zip(columns, row, strict=True))) for row in rows],
        update_conflicts=True,
        unique_fields=["organization", *conflict],
        update_fields=[column for column in (*columns, "synced_at") if column not in conflict],
    )
    return changes


def _merge_with_copy(
    table: str,
    organization_id: int,
    columns: tuple[str, ...],
    rows: Sequence[tuple],
    *,
    conflict: tuple[str, ...],
    now: datetime,
    since: datetime | None,
) -> Changes:
    stage = f"stage_{table}"
    column_list = ", ".join(columns)
    updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in (*columns, "synced_at") if column not in conflict)
    values = [column for column in columns if column not in conflict]
    # A row already written since the round began is updated only when its values changed.
    unchanged_skipped = (
        f" WHERE t.synced_at < %s OR ({', '.join(f't.{c}' for c in values)}) IS DISTINCT FROM "
        f"({', '.join(f'EXCLUDED.{c}' for c in values)})"
        if since is not None
        else ""
    )
    counted = conflict == ("microsoft_id",)
    with connection.cursor() as cursor:
        if connection.in_atomic_block:
            # A crash loses at most the last pages, with the sync position saved in the same transactions:
            # they are read and written again. So these commits need not wait for the disk.
            cursor.execute("SET LOCAL synchronous_commit = off")
        # A session-local table shaped like the target's columns, emptied before each page.
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} AS SELECT {column_list} FROM {table} WITH NO DATA"  # noqa: S608  # nosec B608 (names from the sync's own models, never input)
        )
        cursor.execute(f"TRUNCATE {stage}")
        with cursor.cursor.copy(f"COPY {stage} ({column_list}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO {table} AS t (tenant_id, synced_at, {column_list}) "  # noqa: S608  # nosec B608 (names from the sync's models; values bound)
            f"SELECT %s, %s, {column_list} FROM {stage} "
            f"ON CONFLICT (tenant_id, {', '.join(conflict)}) DO UPDATE SET {updates}{unchanged_skipped}"
            # An inserted row has no xmax: so objects added and updated are told apart in the same statement.
            + (" RETURNING (xmax = 0)" if counted else ""),
            [organization_id, now, *([since] if since is not None else [])],
        )
        if not counted:
            return Changes()
        inserted = [row[0] for row in cursor.fetchall()]
    added = sum(inserted)
    return Changes(added=added, updated=len(inserted) - added)


def write_users(
    organization_id: int, users: Iterable[graph.DirectoryUser], *, since: datetime | None = None
) -> Changes:
    rows = {row[0]: row for row in map(_user_row, users)}
    return _merge(DirectoryUser, organization_id, USER_COLUMNS, list(rows.values()), ("microsoft_id",), since=since)


def write_groups(
    organization_id: int, groups: Iterable[graph.DirectoryGroup], *, since: datetime | None = None
) -> Changes:
    rows = {row[0]: row for row in map(_group_row, groups)}
    return _merge(DirectoryGroup, organization_id, GROUP_COLUMNS, list(rows.values()), ("microsoft_id",), since=since)


def member_type(member: graph.MemberRef) -> str:
    """The member's type as Graph names it (MemberType), or the name of a type this release does not know."""
    return clean_text(member.kind, MEMBER_TYPE_LENGTH)[0]


def write_memberships(organization_id: int, pairs: Iterable[tuple[str, graph.MemberRef]]) -> int:
    """Memberships as (group id, member) pairs, in one statement; returns how many were written. They add to
    what the group holds: a page never replaces a group's members (its members may continue on the next page)."""
    rows = {(group_id, member.id): (group_id, member.id, member_type(member)) for group_id, member in pairs}
    _merge(GroupMembership, organization_id, MEMBERSHIP_COLUMNS, list(rows.values()), ("group_id", "member_id"))
    return len(rows)


def remove_memberships(organization_id: int, pairs: Iterable[tuple[str, str]]) -> int:
    condition = Q()
    for group_id, member_id in pairs:
        condition |= Q(group_id=group_id, member_id=member_id)
    if not condition:
        return 0
    return GroupMembership.objects.filter(condition, organization_id=organization_id).delete()[0]


def remove_users(organization_id: int, ids: Sequence[str]) -> int:
    if not ids:
        return 0
    GroupMembership.objects.filter(organization_id=organization_id, member_id__in=ids).delete()
    return DirectoryUser.objects.filter(organization_id=organization_id, microsoft_id__in=ids).delete()[0]


def remove_groups(organization_id: int, ids: Sequence[str]) -> int:
    if not ids:
        return 0
    GroupMembership.objects.filter(Q(group_id__in=ids) | Q(member_id__in=ids), organization_id=organization_id).delete()
    return DirectoryGroup.objects.filter(organization_id=organization_id, microsoft_id__in=ids).delete()[0]


def remove_unseen(organization_id: int, since: datetime, *, groups_since: datetime | None = None) -> int:
    """After a complete full round: whatever it did not see is gone from Microsoft 365. Users not seen since
    `since`, when the users round began; groups and memberships since `groups_since`, when the groups round began
    (the same by default)."""
    groups_since = groups_since or since
    GroupMembership.objects.filter(organization_id=organization_id, synced_at__lt=groups_since).delete()
    removed = DirectoryUser.objects.filter(organization_id=organization_id, synced_at__lt=since).delete()[0]
    return (
        removed + DirectoryGroup.objects.filter(organization_id=organization_id, synced_at__lt=groups_since).delete()[0]
    )


def apply_user_page(
    organization_id: int, page: graph.Page[graph.UserChange], *, since: datetime | None = None
) -> Changes:
    """A page of a users delta round that began at `since`. `@removed` deletes, in an initial round too."""
    changes = write_users(organization_id, [change.user for change in page.items if change.user], since=since)
    changes.removed += remove_users(organization_id, [change.id for change in page.items if change.removed])
    return changes


def apply_group_page(
    organization_id: int, page: graph.Page[graph.GroupChange], *, since: datetime | None = None
) -> Changes:
    """A page of a groups delta round that began at `since`: a group without members@delta keeps its members."""
    present = [change for change in page.items if change.group]
    changes = write_groups(organization_id, [change.group for change in present if change.group], since=since)
    write_memberships(organization_id, [(change.id, member) for change in present for member in change.members_added])
    remove_memberships(
        organization_id, [(change.id, member.id) for change in present for member in change.members_removed]
    )
    changes.removed += remove_groups(organization_id, [change.id for change in page.items if change.removed])
    return changes
