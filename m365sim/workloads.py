"""What Exchange Online, OneDrive and Teams hold for the simulated directory, and the application access policies
that scope an application's mailbox access."""

import datetime as dt
import uuid

from django.db.models import QuerySet

from m365sim.models import AccessPolicy, DriveState, Group, MailboxState, Membership, User


def has_mailbox(user: User, now: dt.datetime) -> bool:
    """Whether the user has an Exchange Online mailbox that Graph can reach.

    A mailbox comes with an Exchange Online licence and is created some time after the licence is assigned; an
    unlicensed, inactive, soft-deleted or on-premises mailbox answers MailboxNotEnabledForRESTAPI.
    Use the Outlook mail REST API: https://learn.microsoft.com/graph/api/resources/mail-api-overview
    Assign licenses to users (a mailbox can take a while to appear):
    https://learn.microsoft.com/microsoft-365/admin/manage/assign-licenses-to-users
    """
    state = user.mailbox
    if state == MailboxState.PROVISIONED:
        return True
    if state == MailboxState.AUTO:
        return bool(user.assigned_licenses) and (user.mailbox_ready_at is None or user.mailbox_ready_at <= now)
    if state == MailboxState.PENDING:
        return user.mailbox_ready_at is not None and user.mailbox_ready_at <= now
    return False


def has_drive(user: User) -> bool:
    """Whether the user's OneDrive exists. It needs a licence, and it is often created only when the user first
    opens OneDrive (or an administrator pre-provisions it).
    Pre-provision OneDrive for users: https://learn.microsoft.com/sharepoint/pre-provision-accounts
    """
    if user.drive == DriveState.PROVISIONED:
        return True
    return user.drive == DriveState.AUTO and bool(user.assigned_licenses)


def transitive_group_ids(user: User) -> set[uuid.UUID]:
    """The live groups the user is in, directly or through nested groups."""
    found: set[uuid.UUID] = set()
    frontier = set(
        Membership.objects.filter(member_user=user, removed=False, group__deleted_at__isnull=True).values_list(
            "group_id", flat=True
        )
    )
    while frontier:
        found |= frontier
        frontier = (
            set(
                Membership.objects.filter(
                    member_group_id__in=frontier, removed=False, group__deleted_at__isnull=True
                ).values_list("group_id", flat=True)
            )
            - found
        )
    return found


def active_policies(tenant_id: uuid.UUID, app_id: str, now: dt.datetime) -> list[AccessPolicy]:
    policies: QuerySet[AccessPolicy] = AccessPolicy.objects.filter(tenant_id=tenant_id, app_id=app_id)
    return [policy for policy in policies if policy.active(now)]


def policy_refuses(user: User, app_id: str, now: dt.datetime) -> bool:
    """Whether the tenant's application access policies keep the application out of the user's mailbox.

    DenyAccess refuses the members of its group; RestrictAccess allows only the members of its group (with several,
    a member of any); members of nested groups count. The policies narrow the application's Graph permissions and
    apply to Exchange Online only.
    Limiting application permissions to specific Exchange Online mailboxes:
    https://learn.microsoft.com/graph/auth-limit-mailbox-access
    New-ApplicationAccessPolicy: https://learn.microsoft.com/powershell/module/exchange/new-applicationaccesspolicy
    """
    policies = active_policies(user.tenant_id, app_id, now)
    if not policies:
        return False
    groups = transitive_group_ids(user)
    if any(p.access_right == AccessPolicy.Right.DENY and p.group_id in groups for p in policies):
        return True
    restricting = [p for p in policies if p.access_right == AccessPolicy.Right.RESTRICT]
    return bool(restricting) and not any(p.group_id in groups for p in restricting)


def is_policy_scope(group: Group) -> bool:
    """An application access policy is scoped to a mail-enabled security group."""
    return group.mail_enabled and group.security_enabled and "Unified" not in group.group_types
