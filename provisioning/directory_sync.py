"""The directory synchronization a Celery task runs: a full round (an initial delta round), or the chosen
users of certain-users mode. Pages are written as they arrive, each with one set-based upsert; objects not
seen are removed only after a completely successful round."""

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.models import Action
from audit.services import record_event
from provisioning import graph
from provisioning.credential import record_credential_accepted, record_credential_rejected
from provisioning.models import (
    DirectoryDomain,
    DirectoryGroup,
    DirectoryUser,
    GroupMembership,
    GroupType,
    MemberType,
    SelectedUser,
    ServiceAccount,
    SyncKind,
    SyncRun,
    SyncSettings,
    SyncStatus,
    SyncStep,
)
from provisioning.normalize import clean_text
from tenants import services as tenant_services
from tenants.models import ProtectedService, ServiceStatus

logger = logging.getLogger(__name__)

PAGE_SIZE = graph.MAX_PAGE_SIZE


class SyncFailed(Exception):
    """A step failed; `message` is for the administrator, `detail` for support."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


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


def write_users(tenant_id: int, users: Iterable[graph.DirectoryUser]) -> int:
    now = timezone.now()
    rows = [_user_row(tenant_id, user, now) for user in users]
    DirectoryUser.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["tenant", "microsoft_id"],
        update_fields=[
            "user_principal_name",
            "display_name",
            "mail",
            "account_enabled",
            "is_licensed",
            "normalized",
            "synced_at",
        ],
    )
    return len(rows)


def write_groups(tenant_id: int, groups: Iterable[graph.DirectoryGroup]) -> int:
    now = timezone.now()
    rows = [_group_row(tenant_id, group, now) for group in groups]
    DirectoryGroup.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["tenant", "microsoft_id"],
        update_fields=["display_name", "mail", "group_type", "normalized", "synced_at"],
    )
    return len(rows)


def write_memberships(tenant_id: int, pairs: Iterable[tuple[str, graph.MemberRef]]) -> None:
    """Memberships as (group id, member) pairs, written in one statement."""
    now = timezone.now()
    GroupMembership.objects.bulk_create(
        [
            GroupMembership(
                tenant_id=tenant_id,
                group_id=uuid.UUID(group_id),
                member_id=uuid.UUID(member.id),
                member_type=MemberType.GROUP if member.kind == "group" else MemberType.USER,
                synced_at=now,
            )
            for group_id, member in pairs
        ],
        update_conflicts=True,
        unique_fields=["tenant", "group_id", "member_id"],
        update_fields=["member_type", "synced_at"],
    )


def _save_progress(run: SyncRun, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(run, name, value)
    SyncRun.objects.filter(pk=run.pk).update(**fields)


def _remove_unseen(run: SyncRun, since: datetime) -> None:
    for model in (DirectoryUser, DirectoryGroup, GroupMembership):
        model.objects.filter(tenant_id=run.tenant_id, synced_at__lt=since).delete()


def sync_domains(run: SyncRun, client: graph.GraphClient) -> None:
    organization = client.organization()
    names = []
    for domain in organization.verified_domains:
        name, _ = clean_text(domain.name, 255)
        names.append(name)
        DirectoryDomain.objects.update_or_create(
            tenant_id=run.tenant_id,
            name=name,
            defaults={"is_default": domain.is_default, "is_initial": domain.is_initial},
        )
    DirectoryDomain.objects.filter(tenant_id=run.tenant_id).exclude(name__in=names).delete()
    _save_progress(run, domains_synced=len(names))


def _delta_round(fetch, write) -> str | None:
    """Follow one delta round page by page, writing each; returns the round's deltaLink."""
    link: str | None = None
    while True:
        page = fetch(link)
        write(page)
        if page.delta_link or not page.next_link:
            return page.delta_link
        link = page.next_link


def full_round(run: SyncRun, client: graph.GraphClient) -> None:
    started = timezone.now()
    _save_progress(run, step=SyncStep.USERS, users_total=client.count_users())

    def write_user_page(page: graph.Page[graph.UserChange]) -> None:
        written = write_users(run.tenant_id, [change.user for change in page.items if change.user])
        _save_progress(run, users_synced=run.users_synced + written, requests=run.requests + 1)

    def write_group_page(page: graph.Page[graph.GroupChange]) -> None:
        changes = [change for change in page.items if change.group]
        written = write_groups(run.tenant_id, [change.group for change in changes if change.group])
        write_memberships(run.tenant_id, [(change.id, member) for change in changes for member in change.members_added])
        _save_progress(run, groups_synced=run.groups_synced + written, requests=run.requests + 1)

    users_link = _delta_round(lambda link: client.users_delta(link, page_size=PAGE_SIZE), write_user_page)
    _save_progress(run, step=SyncStep.GROUPS)
    groups_link = _delta_round(lambda link: client.groups_delta(link, page_size=PAGE_SIZE), write_group_page)
    with transaction.atomic():
        _remove_unseen(run, started)
        SyncSettings.objects.filter(tenant_id=run.tenant_id).update(
            users_delta_link=users_link or "", groups_delta_link=groups_link or ""
        )


def certain_users_round(run: SyncRun, client: graph.GraphClient) -> None:
    """Exactly the chosen users and the groups they belong to."""
    started = timezone.now()
    chosen = list(SelectedUser.objects.filter(tenant_id=run.tenant_id))
    _save_progress(run, step=SyncStep.USERS, users_total=len(chosen))
    groups: dict[str, graph.DirectoryGroup] = {}
    memberships: list[tuple[str, graph.MemberRef]] = []
    for selected in chosen:
        user = client.user(str(selected.microsoft_id))
        if user is None:
            continue  # deleted in Microsoft 365 since it was chosen: removed below
        write_users(run.tenant_id, [user])
        for group in client.iter_member_of_groups(user.id):
            groups[group.id] = group
            memberships.append((group.id, graph.MemberRef(id=user.id, kind="user")))
        _save_progress(run, users_synced=run.users_synced + 1)
    _save_progress(run, step=SyncStep.GROUPS, groups_total=len(groups))
    write_groups(run.tenant_id, groups.values())
    write_memberships(run.tenant_id, memberships)
    with transaction.atomic():
        _save_progress(run, groups_synced=len(groups))
        _remove_unseen(run, started)


def _enable_policy(run: SyncRun) -> None:
    _save_progress(run, step=SyncStep.POLICY)
    account = ServiceAccount.objects.filter(service_id=run.service_id).select_related("auto_enable_policy").first()
    if account and account.auto_enable_policy:
        tenant_services.set_policy_enabled(policy=account.auto_enable_policy, enabled=True, actor=None)
        _save_progress(run, policy_enabled_at=timezone.now())


def _finish(run: SyncRun) -> None:
    now = timezone.now()
    with transaction.atomic():
        _save_progress(run, step=SyncStep.DONE, status=SyncStatus.SUCCEEDED, finished_at=now)
        ProtectedService.objects.filter(sync_runs=run).update(
            status=ServiceStatus.PROTECTED, last_synced_at=now, last_error=""
        )
        ProtectedService.objects.filter(tenant_id=run.tenant_id, status=ServiceStatus.PROTECTED).update(
            last_synced_at=now
        )
        record_event(
            Action.SYNC_SUCCEEDED,
            actor=None,
            tenant=run.tenant,
            target=run.service.get_kind_display() if run.service else "",
            details={"run": str(run.public_id), "users": run.users_synced, "groups": run.groups_synced},
        )


def _fail(run: SyncRun, failure: SyncFailed) -> None:
    with transaction.atomic():
        _save_progress(
            run,
            status=SyncStatus.FAILED,
            finished_at=timezone.now(),
            error=failure.message,
            error_detail=failure.detail[:5000],
        )
        ProtectedService.objects.filter(sync_runs=run).update(status=ServiceStatus.FAILED, last_error=failure.message)
        record_event(
            Action.SYNC_FAILED,
            actor=None,
            tenant=run.tenant,
            target=run.service.get_kind_display() if run.service else "",
            details={"run": str(run.public_id), "step": run.step, "error": failure.message},
        )


def _explain(exc: graph.MicrosoftError, step: str) -> SyncFailed:
    where = SyncStep(step).label.lower()
    if isinstance(exc, graph.AppCredentialInvalid):
        record_credential_rejected(error_code=f"AADSTS{exc.code}", description=exc.message)
        return SyncFailed(
            f"{SyncStep(step).label} failed: the service is temporarily unavailable and the service team has "
            "been alerted. Nothing in your Microsoft 365 tenant needs to change.",
            repr(exc),
        )
    if isinstance(exc, graph.ConsentRevoked):
        return SyncFailed(
            f"{SyncStep(step).label} failed: Microsoft no longer lets casportal read your directory "
            "(the permissions were withdrawn or the application was disabled in Microsoft Entra). "
            "Grant access again.",
            repr(exc),
        )
    if isinstance(exc, graph.Throttled | graph.TransientError):
        return SyncFailed(
            f"{SyncStep(step).label} failed: Microsoft 365 was too busy to answer while {where}. Try again "
            "in a few minutes.",
            repr(exc),
        )
    return SyncFailed(f"{SyncStep(step).label} failed: Microsoft 365 answered with an error ({exc}).", repr(exc))


def run_sync(run_id: int) -> None:
    """Run one sync from start to end; a redelivered run that already ended does nothing."""
    with transaction.atomic():
        run = SyncRun.objects.select_for_update(of=("self",)).select_related("tenant", "service").get(pk=run_id)
        if run.status in (SyncStatus.SUCCEEDED, SyncStatus.FAILED):
            return
        restarted = run.status == SyncStatus.RUNNING
        SyncRun.objects.filter(pk=run.pk).update(
            status=SyncStatus.RUNNING,
            started_at=run.started_at or timezone.now(),
            users_synced=0,
            groups_synced=0,
            requests=0,
        )
    run.refresh_from_db()
    if restarted:
        logger.info("Sync run %s was interrupted; starting it again", run.public_id)
    microsoft_tenant_id = run.tenant.microsoft_tenant_id
    if microsoft_tenant_id is None:
        _fail(run, SyncFailed("The organization is not connected to a Microsoft 365 tenant."))
        return
    client = graph.GraphClient(str(microsoft_tenant_id))
    try:
        sync_domains(run, client)
        if run.kind == SyncKind.CERTAIN_USERS:
            certain_users_round(run, client)
        else:
            full_round(run, client)
        record_credential_accepted()
        _enable_policy(run)
    except graph.MicrosoftError as exc:
        logger.warning("Sync run %s failed at %s: %r", run.public_id, run.step, exc)
        _fail(run, _explain(exc, run.step))
        return
    _finish(run)
