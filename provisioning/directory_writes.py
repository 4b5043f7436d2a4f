"""Writing Graph's pages into the synchronized directory: one set-based statement per kind of row.

Each writer reports how many rows it added and updated, so a sync run can count its changes.
"""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from provisioning import graph
from provisioning.models import DirectoryGroup, DirectoryUser, GroupMembership, GroupType, MemberType
from provisioning.normalize import clean_text


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


def _user_row(tenant_id: int, user: graph.DirectoryUser, now: datetime) -> DirectoryUser:
    upn, upn_changed = clean_text(user.user_principal_name, 255)
    name, name_changed = clean_text(user.display_name, 256)
    mail, mail_changed = clean_text(user.mail, 255)
    return DirectoryUser(
        tenant_id=tenant_id,
        microsoft_id=uuid.UUID(user.id),
        user_principal_name=upn,
        display_name=name,
        mail=mail,
        account_enabled=user.account_enabled is not False,
        is_licensed=bool(user.assigned_license_skus),
        normalized=upn_changed or name_changed or mail_changed,
        synced_at=now,
    )


def _group_row(tenant_id: int, group: graph.DirectoryGroup, now: datetime) -> DirectoryGroup:
    name, name_changed = clean_text(group.display_name, 256)
    mail, mail_changed = clean_text(group.mail, 255)
    return DirectoryGroup(
        tenant_id=tenant_id,
        microsoft_id=uuid.UUID(group.id),
        display_name=name,
        mail=mail,
        group_type=group_type(group),
        normalized=name_changed or mail_changed,
        synced_at=now,
    )


def _upsert(model, tenant_id: int, rows: Sequence, update_fields: list[str]) -> Changes:
    if not rows:
        return Changes()
    existing = model.objects.filter(tenant_id=tenant_id, microsoft_id__in=[row.microsoft_id for row in rows]).count()
    model.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["tenant", "microsoft_id"], update_fields=update_fields
    )
    return Changes(added=len(rows) - existing, updated=existing)


def write_users(tenant_id: int, users: Iterable[graph.DirectoryUser]) -> Changes:
    now = timezone.now()
    rows = list({row.microsoft_id: row for row in (_user_row(tenant_id, user, now) for user in users)}.values())
    return _upsert(
        DirectoryUser,
        tenant_id,
        rows,
        ["user_principal_name", "display_name", "mail", "account_enabled", "is_licensed", "normalized", "synced_at"],
    )


def write_groups(tenant_id: int, groups: Iterable[graph.DirectoryGroup]) -> Changes:
    now = timezone.now()
    rows = list({row.microsoft_id: row for row in (_group_row(tenant_id, group, now) for group in groups)}.values())
    return _upsert(DirectoryGroup, tenant_id, rows, ["display_name", "mail", "group_type", "normalized", "synced_at"])


def write_memberships(tenant_id: int, pairs: Iterable[tuple[str, graph.MemberRef]]) -> int:
    """Memberships as (group id, member) pairs, in one statement; returns how many were written."""
    now = timezone.now()
    rows = {
        (group_id, member.id): GroupMembership(
            tenant_id=tenant_id,
            group_id=uuid.UUID(group_id),
            member_id=uuid.UUID(member.id),
            member_type=MemberType.GROUP if member.kind == "group" else MemberType.USER,
            synced_at=now,
        )
        for group_id, member in pairs
    }
    GroupMembership.objects.bulk_create(
        list(rows.values()),
        update_conflicts=True,
        unique_fields=["tenant", "group_id", "member_id"],
        update_fields=["member_type", "synced_at"],
    )
    return len(rows)


def remove_memberships(tenant_id: int, pairs: Iterable[tuple[str, str]]) -> int:
    condition = Q()
    for group_id, member_id in pairs:
        condition |= Q(group_id=group_id, member_id=member_id)
    if not condition:
        return 0
    return GroupMembership.objects.filter(condition, tenant_id=tenant_id).delete()[0]


def remove_users(tenant_id: int, ids: Sequence[str]) -> int:
    if not ids:
        return 0
    GroupMembership.objects.filter(tenant_id=tenant_id, member_id__in=ids).delete()
    return DirectoryUser.objects.filter(tenant_id=tenant_id, microsoft_id__in=ids).delete()[0]


def remove_groups(tenant_id: int, ids: Sequence[str]) -> int:
    if not ids:
        return 0
    GroupMembership.objects.filter(Q(group_id__in=ids) | Q(member_id__in=ids), tenant_id=tenant_id).delete()
    return DirectoryGroup.objects.filter(tenant_id=tenant_id, microsoft_id__in=ids).delete()[0]


def remove_unseen(tenant_id: int, since: datetime) -> int:
    """After a complete full round: whatever it did not see is gone from Microsoft 365."""
    GroupMembership.objects.filter(tenant_id=tenant_id, synced_at__lt=since).delete()
    removed = DirectoryUser.objects.filter(tenant_id=tenant_id, synced_at__lt=since).delete()[0]
    return removed + DirectoryGroup.objects.filter(tenant_id=tenant_id, synced_at__lt=since).delete()[0]


def apply_user_page(tenant_id: int, page: graph.Page[graph.UserChange]) -> Changes:
    changes = write_users(tenant_id, [change.user for change in page.items if change.user])
    changes.removed += remove_users(tenant_id, [change.id for change in page.items if change.removed])
    return changes


def apply_group_page(tenant_id: int, page: graph.Page[graph.GroupChange]) -> Changes:
    present = [change for change in page.items if change.group]
    changes = write_groups(tenant_id, [change.group for change in present if change.group])
    write_memberships(tenant_id, [(change.id, member) for change in present for member in change.members_added])
    remove_memberships(tenant_id, [(change.id, member.id) for change in present for member in change.members_removed])
    changes.removed += remove_groups(tenant_id, [change.id for change in page.items if change.removed])
    return changes
