"""The directory synchronization, as a chain of short Celery tasks.

A full sync is an initial delta round over users, then groups with their members; a delta sync continues
from the deltaLinks of the last complete round. Each batch claims the run (a lease and a fencing token),
handles a bounded number of pages, commits its position (the nextLink) with the rows it wrote, and hands
over to the next batch. A killed worker loses at most one batch; a duplicate or stale delivery finds
another fence and does nothing. Objects not seen are removed only after a complete full round, and the
deltaLinks are stored only then. A stored nextLink whose page token Microsoft expired sends the round back
to its start, and a synchronization reset (410 Gone) to a full round, a bounded number of times between them.
Microsoft may send an object twice in a round (replays, a large group's members continued on a later page):
pages add to what is stored, and count an object once.
"""

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from audit.models import Action
from audit.services import Actor, SupportAction, record_event
from casportal.logcontext import bind
from connection.credential import record_credential_accepted, record_credential_rejected_by
from connection.health import CONSENT_BROKEN, record_connection_broken, record_connection_restored
from connection.models import ServiceAccount
from directory.models import (
    ACTIVE_SYNC_STATUSES,
    CERTAIN_USERS_REFUSED,
    TERMINAL_SYNC_STATUSES,
    DirectoryDomain,
    SelectedUser,
    SyncKind,
    SyncMode,
    SyncRun,
    SyncSettings,
    SyncStatus,
    SyncStep,
    SyncTrigger,
)
from directory.normalize import clean_text
from directory.progress import DELTA_LINK_EXPIRED, NO_ROUND_TO_CONTINUE, RESET_REASON, record_wait
from directory.writes import (
    Changes,
    apply_group_page,
    apply_user_page,
    remove_unseen,
    write_groups,
    write_memberships,
    write_users,
)
from microsoft import errors, graph
from organizations import services as organization_services
from organizations.models import ProtectedService, ServiceStatus
from organizations.services import lock_organization

logger = logging.getLogger(__name__)


class SyncFailed(Exception):
    """The run cannot go on; `message` is for the administrator, `detail` for support."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


@dataclass(frozen=True)
class Next:
    """What the task does after a batch: queue the next one with `fence` after `countdown` seconds, or stop."""

    fence: int | None = None
    countdown: float = 0.0


STOP = Next()


@dataclass(frozen=True)
class SyncRequest:
    run: SyncRun
    folded: bool  # a sync of the organization was already under way: this request joined it


def request_sync(
    *,
    service: ProtectedService,
    kind: str,
    trigger: str,
    actor: Actor,
    countdown: float = 0,
    support: SupportAction | None = None,
) -> SyncRequest:
    """Queue a sync of the organization's directory, or join the one under way (one per organization).

    A customer's request that joins a run records nothing (the run's own event stands); support's is recorded
    either way, since its reason is on record only there."""
    lock_organization(service.organization_id)
    active = SyncRun.objects.filter(organization_id=service.organization_id, status__in=ACTIVE_SYNC_STATUSES).first()
    if active is not None:
        if trigger == SyncTrigger.LIST_EDIT and not active.follow_up_requested:
            # The run may have read the chosen users already: it queues one more run when it succeeds.
            SyncRun.objects.filter(pk=active.pk).update(follow_up_requested=True)
        if support is not None:
            _record_queued(active, service, actor, support, folded=True)
        return SyncRequest(run=active, folded=True)
    run = SyncRun.objects.create(organization_id=service.organization_id, service=service, kind=kind, trigger=trigger)
    _record_queued(run, service, actor, support, folded=False)
    transaction.on_commit(lambda: sync_batch.apply_async((run.pk, run.fence), countdown=countdown))
    return SyncRequest(run=run, folded=False)


def _record_queued(
    run: SyncRun, service: ProtectedService, actor: Actor, support: SupportAction | None, *, folded: bool
) -> None:
    details: dict[str, object] = {"run": str(run.public_id), "kind": run.kind, "trigger": run.trigger}
    if folded:
        details["joined_the_run_under_way"] = True
    record_event(
        Action.SYNC_QUEUED,
        actor=actor,
        organization=service.organization,
        target=run_target(run),
        details=details,
        support=support,
    )


# Runs of the organization's whole directory, whatever service they run under: Activity names the organization.
ORGANIZATION_WIDE_TRIGGERS = (SyncTrigger.MANUAL, SyncTrigger.SCHEDULED, SyncTrigger.EXTEND)


def run_target(run: SyncRun) -> str:
    """What Activity names a run by: its service's grant, recreate or list edit; else the organization."""
    if run.service is None or run.trigger in ORGANIZATION_WIDE_TRIGGERS:
        return run.organization.name
    return run.service.get_kind_display()


def _capped(seconds: float) -> float:
    # Below the broker's visibility timeout, or Redis would redeliver the waiting message.
    return max(0.0, min(seconds, settings.SYNC_MAX_COUNTDOWN_SECONDS))


def _claim(run_id: int, fence: int) -> tuple[SyncRun | None, Next]:
    """Take the run for one batch, or say why not: finished, stale, or held by a batch still running."""
    now = timezone.now()
    with transaction.atomic():
        run = SyncRun.objects.select_for_update(of=("self",)).select_related("organization", "service").get(pk=run_id)
        if run.status in TERMINAL_SYNC_STATUSES:
            return None, STOP
        held = run.lease_expires_at is not None and run.lease_expires_at > now
        if held:
            # A batch is running: if it dies, this delivery takes over once its lease is over.
            assert run.lease_expires_at is not None
            return None, Next(fence=fence, countdown=_capped((run.lease_expires_at - now).total_seconds() + 1))
        died = run.lease_expires_at is not None
        if fence != run.fence and not died:
            return None, STOP  # stale: a newer batch already took over from this position
        run.fence += 1
        run.lease_expires_at = now + timedelta(seconds=settings.SYNC_LEASE_SECONDS)
        run.status = SyncStatus.RUNNING
        run.started_at = run.started_at or now
        run.progressed_at = now
        run.save(update_fields=["fence", "lease_expires_at", "status", "started_at", "progressed_at"])
    if died:
        logger.info("Sync run %s: a batch died holding the run; continuing from its last position", run.public_id)
    return run, STOP


class LostLease(Exception):
    """Another batch took the run over (this one was too slow): stop without writing."""


def _commit(run: SyncRun, **fields: Any) -> None:
    """Save progress, provided this batch still holds the run; call it inside the batch's transaction."""
    fields["progressed_at"] = timezone.now()
    for name, value in fields.items():
        setattr(run, name, value)
    if not SyncRun.objects.filter(pk=run.pk, fence=run.fence).update(**fields):
        raise LostLease


def _counted(run: SyncRun, changes: Changes, client: graph.GraphClient, **fields: Any) -> dict[str, Any]:
    return {
        "added": run.added + changes.added,
        "updated": run.updated + changes.updated,
        "removed": run.removed + changes.removed,
        "requests": run.requests + client.take_request_count(),
        **fields,
    }


def run_batch(run_id: int, fence: int) -> Next:
    run, busy = _claim(run_id, fence)
    if run is None:
        return busy
    client = (
        graph.GraphClient(str(run.organization.microsoft_tenant_id)) if run.organization.microsoft_tenant_id else None
    )
    try:
        if client is None:
            raise SyncFailed("The organization is no longer connected to a Microsoft 365 tenant.")
        finished = _advance(run, client)
    except LostLease:
        return STOP
    except SyncFailed as failure:
        _fail(run, failure)
        return STOP
    except (errors.DeltaTokenExpired, errors.PageTokenExpired) as exc:
        return _begin_again(run, exc)
    except errors.Throttled as exc:
        return _back_off(run, exc, exc.retry_after, throttled=True)
    except errors.TransientError as exc:
        return _back_off(run, exc, 2 ** min(run.retries + 1, 8))
    except errors.MicrosoftError as exc:
        _fail(run, _explain(run, exc))
        return STOP
    if finished:
        return STOP
    SyncRun.objects.filter(pk=run.pk, fence=run.fence).update(lease_expires_at=None, retries=0)
    # Graph sends x-ms-throttle-limit-percentage only past 0.8 of the tenant's budget: then slow down.
    slow = client.throttle_percentage is not None
    return Next(fence=run.fence, countdown=_capped(1.0 + random.random()) if slow else 0.0)  # noqa: S311


def _back_off(run: SyncRun, exc: errors.MicrosoftError, seconds: float, *, throttled: bool = False) -> Next:
    retries = run.retries + 1
    if retries > settings.SYNC_MAX_RETRIES:
        _fail(run, _explain(run, exc))
        return STOP
    updated = SyncRun.objects.filter(pk=run.pk, fence=run.fence).update(
        lease_expires_at=None, retries=retries, throttled=run.throttled + int(throttled)
    )
    if not updated:
        return STOP
    jitter = random.uniform(0, max(1.0, seconds) * 0.2)  # noqa: S311
    countdown = _capped(seconds + jitter)
    record_wait(run, seconds=seconds, countdown=countdown, throttled=throttled, attempt=retries, reason=exc.message)
    return Next(fence=run.fence, countdown=countdown)


EXPIRED_GAVE_UP = "Microsoft kept expiring the directory listing; try again later."
RESET_GAVE_UP = "Microsoft kept asking to synchronize the directory from the start; try again later."


def _begin_again(run: SyncRun, exc: errors.DeltaTokenExpired | errors.PageTokenExpired) -> Next:
    """Microsoft ended the round the run holds a token of. An expired nextLink repeats the round; a
    synchronization reset, 410 Gone, begins a full round ("the application must restart with a full
    synchronization": https://learn.microsoft.com/graph/delta-query-overview#synchronization-reset); both count
    against SYNC_MAX_LISTING_RESTARTS. An expired deltaLink (about 7 days) makes the delta round a full one."""
    if isinstance(exc, errors.PageTokenExpired):
        return _restart_round(run, exc, gave_up=EXPIRED_GAVE_UP)
    if exc.status == HTTPStatus.GONE:
        return _restart_round(run, exc, gave_up=RESET_GAVE_UP, full_because=RESET_REASON)
    if run.kind == SyncKind.FULL:  # the full round's own state token is gone: the round again
        return _restart_round(run, exc, gave_up=EXPIRED_GAVE_UP)
    _restart_as_full(run, DELTA_LINK_EXPIRED)
    return Next(fence=run.fence)


def _restart_as_full(run: SyncRun, reason: str) -> None:
    with transaction.atomic():
        _commit(
            run,
            kind=SyncKind.FULL,
            fallback_reason=reason,
            step=SyncStep.DOMAINS,
            cursor="",
            lease_expires_at=None,
            users_synced=0,
            groups_synced=0,
            memberships_synced=0,
        )


def _restart_round(run: SyncRun, exc: errors.MicrosoftError, *, gave_up: str, full_because: str | None = None) -> Next:
    """The round again from its start: `_start` puts the cursor back at the initial delta URL (full) or the
    stored deltaLinks (delta) and opens a fresh seen-set, so a removal counts only what the complete round saw.
    Rows already written stay. `full_because`: a delta run becomes a full one, for that reason."""
    restarts = run.listing_restarts + 1
    if restarts > settings.SYNC_MAX_LISTING_RESTARTS:
        _fail(run, SyncFailed(gave_up, f"{exc!r}: HTTP {exc.status} {exc.code}"))
        return STOP
    becomes_full = full_because is not None and run.kind == SyncKind.DELTA
    kind = {"kind": SyncKind.FULL, "fallback_reason": full_because} if becomes_full else {}
    try:
        with transaction.atomic():
            _commit(
                run,
                **kind,
                listing_restarts=restarts,
                step=SyncStep.DOMAINS,
                cursor="",
                lease_expires_at=None,
                users_synced=0,
                groups_synced=0,
                memberships_synced=0,
                pending_users_delta_link="",
                pending_groups_delta_link="",
            )
    except LostLease:
        return STOP
    logger.info("Sync run %s: Microsoft ended the round (%s); round %d begins", run.public_id, exc.code, restarts + 1)
    return Next(fence=run.fence)


def _advance(run: SyncRun, client: graph.GraphClient) -> bool:
    """One batch of work; True when the run is finished."""
    if run.step == SyncStep.DOMAINS:
        _start(run, client)
        if run.kind == SyncKind.CERTAIN_USERS:
            _certain_users(run, client)
    pages = 0
    while run.step in (SyncStep.USERS, SyncStep.GROUPS) and pages < settings.SYNC_PAGES_PER_BATCH:
        _next_page(run, client)
        pages += 1
    if run.step == SyncStep.POLICY:
        _finish(run)
        return True
    return False


def _start(run: SyncRun, client: graph.GraphClient) -> None:
    sync_settings = SyncSettings.objects.get(organization=run.organization)
    certain = sync_settings.mode == SyncMode.CERTAIN
    if certain and run.trigger in (SyncTrigger.MANUAL, SyncTrigger.SCHEDULED):
        raise SyncFailed(CERTAIN_USERS_REFUSED)
    kind, fallback = run.kind, run.fallback_reason
    if certain:
        kind = SyncKind.CERTAIN_USERS
    elif kind == SyncKind.CERTAIN_USERS:
        kind = SyncKind.FULL
    if kind == SyncKind.DELTA and not (sync_settings.users_delta_link and sync_settings.groups_delta_link):
        kind, fallback = SyncKind.FULL, NO_ROUND_TO_CONTINUE
    details = client.tenant_details()
    names = []
    for domain in details.verified_domains:
        name = clean_text(domain.name, 255)[0]
        names.append(name)
        DirectoryDomain.objects.update_or_create(
            organization_id=run.organization_id,
            name=name,
            defaults={"is_default": domain.is_default, "is_initial": domain.is_initial},
        )
    DirectoryDomain.objects.filter(organization_id=run.organization_id).exclude(name__in=names).delete()
    users_total = client.count_users() if kind == SyncKind.FULL else None
    with transaction.atomic():
        _commit(
            run,
            kind=kind,
            fallback_reason=fallback,
            domains_synced=len(names),
            users_total=users_total,
            step=SyncStep.USERS,
            cursor=sync_settings.users_delta_link if kind == SyncKind.DELTA else "",
            round_started_at=timezone.now(),
            requests=run.requests + client.take_request_count(),
        )


def _next_page(run: SyncRun, client: graph.GraphClient) -> None:
    """Fetch the page at the run's position, write it and move the position on, in one transaction."""
    delta = run.kind == SyncKind.DELTA
    if run.step == SyncStep.USERS:
        page = client.users_delta(run.cursor or None, page_size=settings.SYNC_PAGE_SIZE)
        with transaction.atomic():
            changes = apply_user_page(run.organization_id, page, since=run.round_started_at)
            fields: dict[str, Any] = {"users_synced": run.users_synced + changes.added + changes.updated}
            if page.next_link:
                fields["cursor"] = page.next_link
            else:
                groups_link = (
                    SyncSettings.objects.get(organization_id=run.organization_id).groups_delta_link if delta else ""
                )
                fields.update(step=SyncStep.GROUPS, cursor=groups_link, pending_users_delta_link=page.delta_link or "")
            _commit(run, **_counted(run, changes, client, pages=run.pages + 1, **fields))
        return
    group_page = client.groups_delta(run.cursor or None, page_size=settings.SYNC_PAGE_SIZE)
    with transaction.atomic():
        changes = apply_group_page(run.organization_id, group_page, since=run.round_started_at)
        members = sum(len(change.members_added) + len(change.members_removed) for change in group_page.items)
        fields = {
            "groups_synced": run.groups_synced + changes.added + changes.updated,
            "memberships_synced": run.memberships_synced + members,
        }
        if group_page.next_link:
            fields["cursor"] = group_page.next_link
        else:
            fields.update(step=SyncStep.POLICY, cursor="", pending_groups_delta_link=group_page.delta_link or "")
        _commit(run, **_counted(run, changes, client, pages=run.pages + 1, **fields))


def _certain_users(run: SyncRun, client: graph.GraphClient) -> None:
    """Exactly the chosen users (at most 100) and the groups they belong to, in this one batch."""
    chosen = list(SelectedUser.objects.filter(organization_id=run.organization_id))
    users, groups, memberships = [], {}, []
    for selected in chosen:
        user = client.user(str(selected.microsoft_id))
        if user is None:
            continue  # deleted in Microsoft 365 since it was chosen: removed below
        users.append(user)
        for group in client.iter_member_of_groups(user.id):
            groups[group.id] = group
            memberships.append((group.id, graph.MemberRef(id=user.id, kind="user")))
    with transaction.atomic():
        changes = write_users(run.organization_id, users, since=run.round_started_at)
        changes += write_groups(run.organization_id, groups.values(), since=run.round_started_at)
        write_memberships(run.organization_id, memberships)
        assert run.round_started_at is not None
        changes.removed += remove_unseen(run.organization_id, run.round_started_at)
        _commit(
            run,
            **_counted(
                run,
                changes,
                client,
                users_total=len(chosen),
                users_synced=len(users),
                groups_total=len(groups),
                groups_synced=len(groups),
                memberships_synced=len(memberships),
                step=SyncStep.POLICY,
            ),
        )


def _finish(run: SyncRun) -> None:
    now = timezone.now()
    with transaction.atomic():
        # The organization's lock first, as request_sync takes it: a list edit either reaches this run before it
        # ends (and the follow-up below is queued) or finds it ended and queues a run of its own.
        organization_services.lock_organization(run.organization_id)
        removed = 0
        if run.kind == SyncKind.FULL:
            assert run.round_started_at is not None
            removed = remove_unseen(run.organization_id, run.round_started_at)
        if run.kind in (SyncKind.FULL, SyncKind.DELTA):
            SyncSettings.objects.filter(organization_id=run.organization_id).update(
                users_delta_link=run.pending_users_delta_link, groups_delta_link=run.pending_groups_delta_link
            )
        _commit(
            run,
            removed=run.removed + removed,
            step=SyncStep.DONE,
            status=SyncStatus.SUCCEEDED,
            finished_at=now,
            lease_expires_at=None,
            pending_users_delta_link="",
            pending_groups_delta_link="",
        )
        if run.service_id is not None:
            _enable_chosen_policy(run, now)
            ProtectedService.objects.filter(pk=run.service_id, service_account__isnull=False).exclude(
                status=ServiceStatus.ACCESS_TOKEN_INVALID
            ).update(status=ServiceStatus.PROTECTED, last_error="")
        ProtectedService.objects.filter(organization_id=run.organization_id, status=ServiceStatus.PROTECTED).update(
            last_synced_at=now
        )
        if run.trigger == SyncTrigger.RECREATE:
            record_connection_restored(organization=run.organization)
        if SyncRun.objects.filter(pk=run.pk, follow_up_requested=True).exists() and run.service is not None:
            request_sync(service=run.service, kind=SyncKind.CERTAIN_USERS, trigger=SyncTrigger.LIST_EDIT, actor=None)
        record_event(
            Action.SYNC_SUCCEEDED,
            actor=None,
            organization=run.organization,
            target=run_target(run),
            details={
                "run": str(run.public_id),
                "kind": run.kind,
                "trigger": run.trigger,
                "added": run.added,
                "updated": run.updated,
                "removed": run.removed,
            },
        )
    record_credential_accepted()


def _enable_chosen_policy(run: SyncRun, now: datetime) -> None:
    account = ServiceAccount.objects.filter(service_id=run.service_id).select_related("auto_enable_policy").first()
    if run.trigger == SyncTrigger.GRANT and account and account.auto_enable_policy:
        organization_services.set_policy_enabled(policy=account.auto_enable_policy, enabled=True, actor=None)
        _commit(run, policy_enabled_at=now)


def _fail(run: SyncRun, failure: SyncFailed) -> None:
    with transaction.atomic():
        updated = SyncRun.objects.filter(pk=run.pk, fence=run.fence).update(
            status=SyncStatus.FAILED,
            finished_at=timezone.now(),
            lease_expires_at=None,
            error=failure.message,
            error_detail=failure.detail[:5000],
        )
        if not updated:
            return
        if run.trigger in (SyncTrigger.GRANT, SyncTrigger.RECREATE) and run.service_id is not None:
            ProtectedService.objects.filter(pk=run.service_id).exclude(
                status=ServiceStatus.ACCESS_TOKEN_INVALID
            ).update(status=ServiceStatus.FAILED, last_error=failure.message)
        record_event(
            Action.SYNC_FAILED,
            actor=None,
            organization=run.organization,
            target=run_target(run),
            details={"run": str(run.public_id), "step": run.step, "error": failure.message},
        )


def _explain(run: SyncRun, exc: errors.MicrosoftError) -> SyncFailed:
    step = SyncStep(run.step).label
    if isinstance(exc, errors.AppCredentialInvalid):
        record_credential_rejected_by(exc)
        return SyncFailed(
            f"{step} failed: the service is temporarily unavailable and the service team has been alerted. "
            "Nothing in your Microsoft 365 tenant needs to change.",
            repr(exc),
        )
    if isinstance(exc, errors.ConsentRevoked):
        record_connection_broken(organization=run.organization, reason=CONSENT_BROKEN, error_code=str(exc.code or ""))
        return SyncFailed(f"{step} failed: {CONSENT_BROKEN}", repr(exc))
    if isinstance(exc, errors.TransientError):
        return SyncFailed(
            f"{step} failed: Microsoft 365 stayed too busy to answer, even after waiting. Try again later.", repr(exc)
        )
    return SyncFailed(f"{step} failed: Microsoft 365 answered with an error ({exc.message}).", repr(exc))


def stalled_runs(now: datetime | None = None) -> list[SyncRun]:
    """Runs whose chain of tasks broke (a message lost with a restarted broker, a task failed on the database):
    no batch holds them and none has made progress for SYNC_STALL_SECONDS."""
    now = now or timezone.now()
    quiet_since = now - timedelta(seconds=settings.SYNC_STALL_SECONDS)
    return list(
        SyncRun.objects.filter(status__in=ACTIVE_SYNC_STATUSES)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .filter(Q(progressed_at__lt=quiet_since) | Q(progressed_at__isnull=True, queued_at__lt=quiet_since))
    )


@shared_task(
    name="provisioning.sync_batch",
    # The database or the broker gone for a moment: try the batch again (the fence keeps it single).
    autoretry_for=(DatabaseError, KombuOperationalError),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
)
def sync_batch(sync_run_id: int, fence: int) -> None:
    """One batch of a sync run; queues the next batch (or itself, later, when throttled)."""
    with bind(sync_run=sync_run_id):
        after = run_batch(sync_run_id, fence)
    if after.fence is not None:
        sync_batch.apply_async((sync_run_id, after.fence), countdown=after.countdown)


@shared_task(name="provisioning.resume_stalled_syncs")
def resume_stalled_syncs() -> int:
    """The watchdog: hand every stalled run to a new batch, which takes over from its last saved position."""
    stalled = stalled_runs()
    for run in stalled:
        sync_batch.delay(run.pk, run.fence)
    return len(stalled)
