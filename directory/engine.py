"""The directory synchronization, as two chains of short Celery tasks.

A full sync is an initial delta round over users and one over groups with their members; a delta sync continues
from the deltaLinks of the last complete round. The users chain reads the organization, begins the groups chain
beside itself (or after itself, with SYNC_CONCURRENT_CHAINS off) and reads users; the groups chain reads groups
and members@delta. Graph's page latency sets a sync's time: two chains take as long as the longer one, not both.
Each batch claims its chain (a lease and a fencing token of its own), handles a bounded number of pages, commits
its position (the nextLink) with the rows it wrote, and hands over to the chain's next batch. A killed worker
loses at most one batch; a duplicate or stale delivery finds another fence and does nothing. The batch whose
chain ends last finishes the run: objects not seen are removed only then, after both complete rounds, and the
deltaLinks are stored only then. Memberships are kept by Microsoft ids, so a group's members written before the
users chain wrote those users are right. A stored nextLink whose page token Microsoft expired sends that chain's
round back to its start; a synchronization reset (410 Gone) of a delta run begins both as a full round, a bounded
number of times between them. Microsoft may send an object twice in a round (replays, a large group's members
continued on a later page): pages add to what is stored, and count an object once.
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
from django.db.models import F, Q
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
    ChainState,
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
from directory.signals import sync_succeeded
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


USERS, GROUPS = "users", "groups"


@dataclass(frozen=True)
class Chain:
    """The run's fields one chain of batches owns: its fence, lease, position, retries and round's start."""

    name: str
    fence: str
    lease: str
    cursor: str
    retries: str
    round_started: str


USERS_CHAIN = Chain(USERS, "fence", "lease_expires_at", "cursor", "retries", "round_started_at")
GROUPS_CHAIN = Chain(
    GROUPS, "groups_fence", "groups_lease_expires_at", "groups_cursor", "groups_retries", "groups_round_started_at"
)


def concurrent_chains() -> bool:
    """Whether the groups chain begins with the users chain (the default) or after it (SYNC_CONCURRENT_CHAINS
    off: the sequential design, kept to compare with in `make bench`)."""
    return bool(settings.SYNC_CONCURRENT_CHAINS)


def _chain_active(run: SyncRun, chain: Chain) -> bool:
    # The users chain begins the run and finishes it; the groups chain runs from its start to its last page.
    if chain is GROUPS_CHAIN:
        return run.groups_chain == ChainState.RUNNING
    return run.step in (SyncStep.DOMAINS, SyncStep.USERS, SyncStep.POLICY)


def _claim(run_id: int, fence: int, chain: Chain) -> tuple[SyncRun | None, Next]:
    """Take the chain for one batch, or say why not: finished, stale, or held by a batch still running."""
    now = timezone.now()
    with transaction.atomic():
        run = SyncRun.objects.select_for_update(of=("self",)).select_related("organization", "service").get(pk=run_id)
        if run.status in TERMINAL_SYNC_STATUSES or not _chain_active(run, chain):
            return None, STOP
        lease: datetime | None = getattr(run, chain.lease)
        if lease is not None and lease > now:
            # A batch is running: if it dies, this delivery takes over once its lease is over.
            return None, Next(fence=fence, countdown=_capped((lease - now).total_seconds() + 1))
        died = lease is not None
        if fence != getattr(run, chain.fence) and not died:
            return None, STOP  # stale: a newer batch already took over from this position
        setattr(run, chain.fence, getattr(run, chain.fence) + 1)
        setattr(run, chain.lease, now + timedelta(seconds=settings.SYNC_LEASE_SECONDS))
        run.status = SyncStatus.RUNNING
        run.started_at = run.started_at or now
        run.progressed_at = now
        run.save(update_fields=[chain.fence, chain.lease, "status", "started_at", "progressed_at"])
    if died:
        logger.info("Sync run %s: a %s batch died; continuing from its last position", run.public_id, chain.name)
    return run, STOP


class LostLease(Exception):
    """Another batch took the chain over (this one was too slow), or the run ended: stop without writing."""


def _commit(run: SyncRun, chain: Chain, increments: dict[str, int] | None = None, **fields: Any) -> None:
    """Save progress, provided this batch still holds its chain of the active run; call it inside the batch's
    transaction. `increments` add to counters both chains write (counted by the database, never from memory)."""
    fields["progressed_at"] = timezone.now()
    for name, value in fields.items():
        setattr(run, name, value)
    added = {name: F(name) + amount for name, amount in (increments or {}).items()}
    held = {chain.fence: getattr(run, chain.fence)}
    if not SyncRun.objects.filter(pk=run.pk, status__in=ACTIVE_SYNC_STATUSES, **held).update(**fields, **added):
        raise LostLease


def _increments(changes: Changes, client: graph.GraphClient, **more: int) -> dict[str, int]:
    return {
        "added": changes.added,
        "updated": changes.updated,
        "removed": changes.removed,
        "requests": client.take_request_count(),
        **more,
    }


def run_batch(run_id: int, fence: int) -> Next:
    """A batch of the users chain, which begins the run (and the groups chain) and finishes it."""
    return _run_chain(run_id, fence, USERS_CHAIN)


def run_groups_batch(run_id: int, fence: int) -> Next:
    return _run_chain(run_id, fence, GROUPS_CHAIN)


def _run_chain(run_id: int, fence: int, chain: Chain) -> Next:
    run, busy = _claim(run_id, fence, chain)
    if run is None:
        return busy
    client = (
        graph.GraphClient(str(run.organization.microsoft_tenant_id)) if run.organization.microsoft_tenant_id else None
    )
    try:
        if client is None:
            raise SyncFailed("The organization is no longer connected to a Microsoft 365 tenant.")
        goes_on = _advance_groups(run, client) if chain is GROUPS_CHAIN else _advance(run, client)
    except LostLease:
        return STOP
    except SyncFailed as failure:
        _fail(run, chain, failure)
        return STOP
    except (errors.DeltaTokenExpired, errors.PageTokenExpired) as exc:
        return _begin_again(run, chain, exc)
    except errors.Throttled as exc:
        return _back_off(run, chain, exc, exc.retry_after, throttled=True)
    except errors.TransientError as exc:
        return _back_off(run, chain, exc, 2 ** min(getattr(run, chain.retries) + 1, 8))
    except errors.MicrosoftError as exc:
        _fail(run, chain, _explain(run, chain, exc))
        return STOP
    SyncRun.objects.filter(pk=run.pk, **{chain.fence: getattr(run, chain.fence)}).update(
        **{chain.lease: None, chain.retries: 0}
    )
    if not goes_on:
        return STOP
    # Graph sends x-ms-throttle-limit-percentage only past 0.8 of the tenant's budget: then slow down.
    slow = client.throttle_percentage is not None
    return Next(fence=getattr(run, chain.fence), countdown=_capped(1.0 + random.random()) if slow else 0.0)  # noqa: S311


def _back_off(
    run: SyncRun, chain: Chain, exc: errors.MicrosoftError, seconds: float, *, throttled: bool = False
) -> Next:
    retries = getattr(run, chain.retries) + 1
    if retries > settings.SYNC_MAX_RETRIES:
        _fail(run, chain, _explain(run, chain, exc))
        return STOP
    updated = SyncRun.objects.filter(pk=run.pk, **{chain.fence: getattr(run, chain.fence)}).update(
        **{chain.lease: None, chain.retries: retries}, throttled=F("throttled") + int(throttled)
    )
    if not updated:
        return STOP
    jitter = random.uniform(0, max(1.0, seconds) * 0.2)  # noqa: S311
    countdown = _capped(seconds + jitter)
    record_wait(run, seconds=seconds, countdown=countdown, throttled=throttled, attempt=retries, reason=exc.message)
    return Next(fence=getattr(run, chain.fence), countdown=countdown)


EXPIRED_GAVE_UP = "Microsoft kept expiring the directory listing; try again later."
RESET_GAVE_UP = "Microsoft kept asking to synchronize the directory from the start; try again later."


def _begin_again(run: SyncRun, chain: Chain, exc: errors.DeltaTokenExpired | errors.PageTokenExpired) -> Next:
    """Microsoft ended the round the chain holds a token of. An expired nextLink repeats the chain's round; a
    synchronization reset, 410 Gone, begins a full round ("the application must restart with a full
    synchronization": https://learn.microsoft.com/graph/delta-query-overview#synchronization-reset); both count
    against SYNC_MAX_LISTING_RESTARTS. An expired deltaLink (about 7 days) makes the delta run a full one. A delta
    run that becomes full begins both chains again (a full run removes what neither complete round saw)."""
    if isinstance(exc, errors.PageTokenExpired):
        return _restart_round(run, chain, exc, gave_up=EXPIRED_GAVE_UP)
    if exc.status == HTTPStatus.GONE:
        if run.kind == SyncKind.DELTA:
            return _restart_as_full(run, chain, exc, RESET_REASON, gave_up=RESET_GAVE_UP)
        return _restart_round(run, chain, exc, gave_up=RESET_GAVE_UP)
    if run.kind == SyncKind.FULL:  # the full round's own state token is gone: the round again
        return _restart_round(run, chain, exc, gave_up=EXPIRED_GAVE_UP)
    return _restart_as_full(run, chain, exc, DELTA_LINK_EXPIRED)


def _one_restart_more(run: SyncRun, chain: Chain, exc: errors.MicrosoftError, gave_up: str) -> bool:
    """Whether the run may begin a round again; if not, it fails (removing nothing)."""
    restarts = SyncRun.objects.values_list("listing_restarts", flat=True).get(pk=run.pk) + 1
    if restarts > settings.SYNC_MAX_LISTING_RESTARTS:
        _fail(run, chain, SyncFailed(gave_up, f"{exc!r}: HTTP {exc.status} {exc.code}"))
        return False
    return True


def _restart_as_full(
    run: SyncRun, chain: Chain, exc: errors.MicrosoftError, reason: str, *, gave_up: str | None = None
) -> Next:
    """Both chains from the start of a full round: the run's first step again, the groups chain not begun. The
    other chain's fence moves on, so a batch of it still under way writes nothing. `gave_up`: this counts as a
    restart."""
    if gave_up is not None and not _one_restart_more(run, chain, exc, gave_up):
        return STOP
    other = USERS_CHAIN if chain is GROUPS_CHAIN else GROUPS_CHAIN
    try:
        with transaction.atomic():
            _commit(
                run,
                chain,
                increments={other.fence: 1, **({"listing_restarts": 1} if gave_up is not None else {})},
                kind=SyncKind.FULL,
                fallback_reason=reason,
                step=SyncStep.DOMAINS,
                cursor="",
                lease_expires_at=None,
                groups_chain=ChainState.PENDING,
                groups_cursor="",
                groups_lease_expires_at=None,
                users_synced=0,
                groups_synced=0,
                memberships_synced=0,
                pending_users_delta_link="",
                pending_groups_delta_link="",
            )
    except LostLease:
        return STOP
    logger.info("Sync run %s: Microsoft ended the delta round (%s); a full round begins", run.public_id, exc.code)
    if chain is USERS_CHAIN:
        return Next(fence=run.fence)
    sync_batch.apply_async((run.pk, SyncRun.objects.values_list("fence", flat=True).get(pk=run.pk)))
    return STOP


def _restart_round(run: SyncRun, chain: Chain, exc: errors.MicrosoftError, *, gave_up: str) -> Next:
    """The chain's round again from its start, with a fresh round start, so a removal counts only what the
    complete round saw; rows already written stay. The users chain goes back to the run's first step (`_start`
    puts its cursor at the initial delta URL or the stored deltaLink); the groups chain to its own start."""
    if not _one_restart_more(run, chain, exc, gave_up):
        return STOP
    if chain is GROUPS_CHAIN:
        fields: dict[str, Any] = _groups_round(run.organization_id, run.kind)
        fields.update(groups_lease_expires_at=None)
    else:
        fields = {
            "step": SyncStep.DOMAINS,
            "cursor": "",
            "lease_expires_at": None,
            "users_synced": 0,
            "pending_users_delta_link": "",
        }
    try:
        with transaction.atomic():
            _commit(run, chain, increments={"listing_restarts": 1}, **fields)
    except LostLease:
        return STOP
    logger.info("Sync run %s: Microsoft ended the %s round (%s); it begins again", run.public_id, chain.name, exc.code)
    return Next(fence=getattr(run, chain.fence))


def _groups_round(organization_id: int, kind: str) -> dict[str, Any]:
    """The fields that begin the groups chain's round: from the stored deltaLink (delta) or the initial URL."""
    link = SyncSettings.objects.get(organization_id=organization_id).groups_delta_link if kind == SyncKind.DELTA else ""
    return {
        "groups_chain": ChainState.RUNNING,
        "groups_cursor": link,
        "groups_round_started_at": timezone.now(),
        "groups_synced": 0,
        "memberships_synced": 0,
        "pending_groups_delta_link": "",
    }


def _queue_groups_chain(run: SyncRun) -> None:
    # Called once the transaction that began the chain has committed (batches run outside any transaction): the
    # groups batch finds the chain running. A kill just before this leaves it to the watchdog.
    sync_batch.apply_async((run.pk, run.groups_fence, GROUPS))


def _advance(run: SyncRun, client: graph.GraphClient) -> bool:
    """One batch of the users chain; True while the chain goes on."""
    if run.step == SyncStep.DOMAINS:
        _start(run, client)
        if run.kind == SyncKind.CERTAIN_USERS:
            _certain_users(run, client)
    pages = 0
    while run.step == SyncStep.USERS and pages < settings.SYNC_PAGES_PER_BATCH:
        _next_user_page(run, client)
        pages += 1
    if run.step == SyncStep.POLICY:
        _finish(run, USERS_CHAIN)
        return False
    return run.step == SyncStep.USERS


def _advance_groups(run: SyncRun, client: graph.GraphClient) -> bool:
    """One batch of the groups chain; True while it goes on. Its last page finishes the run if the users chain
    is done."""
    pages = 0
    while run.groups_chain == ChainState.RUNNING and pages < settings.SYNC_PAGES_PER_BATCH:
        _next_group_page(run, client)
        pages += 1
    if run.step == SyncStep.POLICY:
        _finish(run, GROUPS_CHAIN)
        return False
    return run.groups_chain == ChainState.RUNNING


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
    # The groups chain begins now, beside the users chain, unless it runs already (the users round begins again).
    begins_groups = concurrent_chains() and kind != SyncKind.CERTAIN_USERS and run.groups_chain == ChainState.PENDING
    with transaction.atomic():
        _commit(
            run,
            USERS_CHAIN,
            increments={"requests": client.take_request_count()},
            kind=kind,
            fallback_reason=fallback,
            domains_synced=len(names),
            users_total=users_total,
            step=SyncStep.USERS,
            cursor=sync_settings.users_delta_link if kind == SyncKind.DELTA else "",
            round_started_at=timezone.now(),
            **(_groups_round(run.organization_id, kind) if begins_groups else {}),
        )
    if begins_groups:
        _queue_groups_chain(run)


def _next_user_page(run: SyncRun, client: graph.GraphClient) -> None:
    """Fetch the page at the users chain's position, write it and move the position on, in one transaction."""
    page = client.users_delta(run.cursor or None, page_size=settings.SYNC_PAGE_SIZE)
    begins_groups = False
    with transaction.atomic():
        changes = apply_user_page(run.organization_id, page, since=run.round_started_at)
        fields: dict[str, Any] = {"users_synced": run.users_synced + changes.added + changes.updated}
        if page.next_link:
            fields["cursor"] = page.next_link
        else:
            fields.update(step=SyncStep.GROUPS, cursor="", pending_users_delta_link=page.delta_link or "")
            # Sequential chains: the groups chain begins after the users chain. (Only this chain begins it, so
            # what this batch read of it holds.)
            begins_groups = run.groups_chain == ChainState.PENDING
            if begins_groups:
                fields.update(_groups_round(run.organization_id, run.kind))
        _commit(run, USERS_CHAIN, increments=_increments(changes, client, pages=1), **fields)
        # Under the run's row lock, taken by the update above: of the two chains' last pages, the later one
        # sees the other done and moves the run on to its end.
        if not page.next_link and SyncRun.objects.filter(
            pk=run.pk, fence=run.fence, step=SyncStep.GROUPS, groups_chain=ChainState.DONE
        ).update(step=SyncStep.POLICY):
            run.step = SyncStep.POLICY
    if begins_groups:
        _queue_groups_chain(run)


def _next_group_page(run: SyncRun, client: graph.GraphClient) -> None:
    """Fetch the page at the groups chain's position, write it and move the position on, in one transaction."""
    page = client.groups_delta(run.groups_cursor or None, page_size=settings.SYNC_PAGE_SIZE)
    with transaction.atomic():
        changes = apply_group_page(run.organization_id, page, since=run.groups_round_started_at)
        members = sum(len(change.members_added) + len(change.members_removed) for change in page.items)
        fields: dict[str, Any] = {
            "groups_synced": run.groups_synced + changes.added + changes.updated,
            "memberships_synced": run.memberships_synced + members,
        }
        if page.next_link:
            fields["groups_cursor"] = page.next_link
        else:
            fields.update(
                groups_chain=ChainState.DONE, groups_cursor="", pending_groups_delta_link=page.delta_link or ""
            )
        _commit(run, GROUPS_CHAIN, increments=_increments(changes, client, pages=1), **fields)
        if not page.next_link and SyncRun.objects.filter(
            pk=run.pk, groups_fence=run.groups_fence, step=SyncStep.GROUPS
        ).update(step=SyncStep.POLICY):
            run.step = SyncStep.POLICY


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
            USERS_CHAIN,
            increments=_increments(changes, client),
            users_total=len(chosen),
            users_synced=len(users),
            groups_total=len(groups),
            groups_synced=len(groups),
            memberships_synced=len(memberships),
            step=SyncStep.POLICY,
        )


def _finish(run: SyncRun, chain: Chain) -> None:
    """The one place a run succeeds, once both chains are done, by the batch of the chain that ended last."""
    now = timezone.now()
    with transaction.atomic():
        # The organization's lock first, as request_sync takes it: a list edit either reaches this run before it
        # ends (and the follow-up below is queued) or finds it ended and queues a run of its own.
        organization_services.lock_organization(run.organization_id)
        done = SyncRun.objects.get(pk=run.pk)  # both chains' counters, as the database has them
        if done.status not in ACTIVE_SYNC_STATUSES or getattr(done, chain.fence) != getattr(run, chain.fence):
            raise LostLease
        removed = 0
        if done.kind == SyncKind.FULL:
            assert done.round_started_at is not None
            removed = remove_unseen(
                run.organization_id, done.round_started_at, groups_since=done.groups_round_started_at
            )
        if done.kind in (SyncKind.FULL, SyncKind.DELTA):
            SyncSettings.objects.filter(organization_id=run.organization_id).update(
                users_delta_link=done.pending_users_delta_link, groups_delta_link=done.pending_groups_delta_link
            )
        _commit(
            run,
            chain,
            increments={"removed": removed},
            step=SyncStep.DONE,
            status=SyncStatus.SUCCEEDED,
            finished_at=now,
            lease_expires_at=None,
            groups_lease_expires_at=None,
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
                "kind": done.kind,
                "trigger": run.trigger,
                "added": done.added,
                "updated": done.updated,
                "removed": done.removed + removed,
            },
        )
        sync_succeeded.send(sender=SyncRun, run=run)
    record_credential_accepted()


def _enable_chosen_policy(run: SyncRun, now: datetime) -> None:
    account = ServiceAccount.objects.filter(service_id=run.service_id).select_related("auto_enable_policy").first()
    if run.trigger == SyncTrigger.GRANT and account and account.auto_enable_policy:
        organization_services.set_policy_enabled(policy=account.auto_enable_policy, enabled=True, actor=None)
        SyncRun.objects.filter(pk=run.pk).update(policy_enabled_at=now)


def _fail(run: SyncRun, chain: Chain, failure: SyncFailed) -> None:
    """The run fails, from whichever chain: the other one finds it ended and writes nothing more."""
    with transaction.atomic():
        updated = SyncRun.objects.filter(
            pk=run.pk, status__in=ACTIVE_SYNC_STATUSES, **{chain.fence: getattr(run, chain.fence)}
        ).update(
            status=SyncStatus.FAILED,
            finished_at=timezone.now(),
            lease_expires_at=None,
            groups_lease_expires_at=None,
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
            details={"run": str(run.public_id), "step": _step(run, chain), "error": failure.message},
        )


def _step(run: SyncRun, chain: Chain) -> str:
    return SyncStep.GROUPS if chain is GROUPS_CHAIN else run.step


def _explain(run: SyncRun, chain: Chain, exc: errors.MicrosoftError) -> SyncFailed:
    step = SyncStep(_step(run, chain)).label
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
    """Runs whose chains of tasks broke (a message lost with a restarted broker, a task failed on the database):
    no batch of either chain holds them and none has made progress for SYNC_STALL_SECONDS."""
    now = now or timezone.now()
    quiet_since = now - timedelta(seconds=settings.SYNC_STALL_SECONDS)
    return list(
        SyncRun.objects.filter(status__in=ACTIVE_SYNC_STATUSES)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .filter(Q(groups_lease_expires_at__isnull=True) | Q(groups_lease_expires_at__lt=now))
        .filter(Q(progressed_at__lt=quiet_since) | Q(progressed_at__isnull=True, queued_at__lt=quiet_since))
    )


def _arguments(run_id: int, fence: int, chain: str) -> tuple[int, int] | tuple[int, int, str]:
    # The users chain's messages keep the two arguments of an earlier release's.
    return (run_id, fence) if chain == USERS else (run_id, fence, chain)


@shared_task(
    name="provisioning.sync_batch",
    # The database or the broker gone for a moment: try the batch again (the fence keeps it single).
    autoretry_for=(DatabaseError, KombuOperationalError),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
)
def sync_batch(sync_run_id: int, fence: int, chain: str = USERS) -> None:
    """One batch of a sync run's users chain, or of its groups chain; queues the chain's next batch (or itself,
    later, when throttled)."""
    if chain not in (USERS, GROUPS):
        raise ValueError(f"No sync chain {chain!r}")
    with bind(sync_run=sync_run_id):
        after = run_groups_batch(sync_run_id, fence) if chain == GROUPS else run_batch(sync_run_id, fence)
    if after.fence is not None:
        sync_batch.apply_async(_arguments(sync_run_id, after.fence, chain), countdown=after.countdown)


@shared_task(name="provisioning.resume_stalled_syncs")
def resume_stalled_syncs() -> int:
    """The watchdog: hand each chain still to run of every stalled run to a new batch, which takes over from the
    chain's last saved position."""
    stalled = stalled_runs()
    for run in stalled:
        if _chain_active(run, USERS_CHAIN):
            sync_batch.delay(run.pk, run.fence)
        if _chain_active(run, GROUPS_CHAIN):
            sync_batch.delay(run.pk, run.groups_fence, GROUPS)
    return len(stalled)
