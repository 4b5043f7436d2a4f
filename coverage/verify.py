"""Verification: what casportal's app-only access reaches of each granted service, checked through Graph.

Calls (each in docs/architecture.md with its source):
- Exchange Online: `GET /users/{id}/mailFolders/inbox?$select=id` (Mail.ReadWrite): 200 reachable; 404
  MailboxNotEnabledForRESTAPI: no Exchange Online mailbox; 403 ErrorAccessDenied: an application access policy
  (https://learn.microsoft.com/graph/auth-limit-mailbox-access).
- OneDrive: `GET /users/{id}/drive?$select=id` (Files.Read.All): 200 provisioned; 404: none
  (https://learn.microsoft.com/graph/api/drive-get).
- SharePoint Online: `GET /sites/getAllSites` then `GET /sites/{id}?$select=id` (Sites.Read.All)
  (https://learn.microsoft.com/graph/api/site-getallsites).
- Microsoft Teams: `GET /teams` then `GET /teams/{id}?$select=id` (Team.ReadBasic.All)
  (https://learn.microsoft.com/graph/api/teams-list).
Requests go 20 to a `POST /$batch`; a request throttled inside a batch is sent again after its own Retry-After.

A verification is a chain of short fenced tasks, as a sync is: each claims the service's verification with its
fence, checks up to COVERAGE_OBJECTS_PER_TASK objects not yet checked since the verification started, commits
what it found and queues the next. A killed worker loses one task's checks; a stale delivery finds another fence.
Which users are checked (users' services):
- users synchronized since the last verification (new, changed, re-licensed: a full sync rewrites every user, so
  it re-checks every mailbox), and the users of every group whose memberships changed since then;
- users never checked, and objects not covered or not checked, again after COVERAGE_UNCOVERED_RECHECK_SECONDS
  (mailboxes appear some time after a licence; a OneDrive often only at first use);
- the covered objects of the rotation's slot, one of 24 that each completed verification moves on, so that with
  the hourly verifications each covered object is checked again within 24 hours and an access policy that cuts
  access is found between syncs.
"""

import logging
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from http import HTTPStatus

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from connection.models import ServiceAccount
from coverage import services
from coverage.models import USER_SERVICES, CoverageState, ObjectCoverage, ServiceCoverage
from coverage.services import Check
from directory.models import GroupMembership, MemberType, SyncRun, SyncStatus
from microsoft import batch, errors, graph
from organizations.models import ProtectedService, ServiceKind

logger = logging.getLogger(__name__)

MAILBOX_PATH = "users/{id}/mailFolders/inbox?$select=id"
DRIVE_PATH = "users/{id}/drive?$select=id"
ITEM_PATHS: dict[str, str] = {
    ServiceKind.SHAREPOINT_ONLINE: "sites/{id}?$select=id",
    ServiceKind.TEAMS: "teams/{id}?$select=id",
}
LISTINGS: dict[str, tuple[str, str]] = {
    ServiceKind.SHAREPOINT_ONLINE: ("sites/getAllSites", "id,webUrl,displayName,isPersonalSite"),
    ServiceKind.TEAMS: ("teams", "id,displayName"),
}
# A throttled request waits in the task up to this long; a longer Retry-After ends the task, the next comes after it.
INLINE_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class Target:
    microsoft_id: str
    name: str
    path: str
    user_id: uuid.UUID | None = None


def classify(kind: str, answer: batch.Answer) -> tuple[CoverageState, str]:
    """What one answer says of the object's coverage, and Microsoft's words when it is not covered."""
    if answer.status == HTTPStatus.OK:
        return CoverageState.COVERED, ""
    code = answer.code.lower()
    if kind == ServiceKind.EXCHANGE_ONLINE:
        if answer.status == HTTPStatus.NOT_FOUND and code == "mailboxnotenabledforrestapi":
            return CoverageState.NO_MAILBOX, answer.answer
        if answer.status == HTTPStatus.FORBIDDEN and code == "erroraccessdenied":
            return CoverageState.POLICY_REFUSED, answer.answer
    if kind == ServiceKind.ONEDRIVE and answer.status == HTTPStatus.NOT_FOUND:
        return CoverageState.NO_DRIVE, answer.answer
    if kind in ITEM_PATHS and answer.status in (HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND):
        return CoverageState.NOT_READABLE, answer.answer
    return CoverageState.UNCHECKED, answer.answer or f"HTTP {answer.status}"


def check_all(client: graph.GraphClient, kind: str, targets: list[Target]) -> tuple[list[Check], float]:
    """Check the targets in batches of 20, COVERAGE_CONCURRENT_BATCHES at a time; throttled ones again after their
    Retry-After, while it is short.

    Returns what was found and, when Microsoft asked for a longer wait, that wait (the rest stays unchecked)."""
    pending = list(targets)
    found: list[Check] = []
    width = max(1, settings.COVERAGE_CONCURRENT_BATCHES)
    send = partial(_send, client)
    with ThreadPoolExecutor(max_workers=width) as pool:
        while pending:
            chunks = [pending[i : i + batch.MAX_REQUESTS] for i in range(0, len(pending), batch.MAX_REQUESTS)]
            rounds, pending = chunks[:width], [target for chunk in chunks[width:] for target in chunk]
            # One at a time in this thread when the setting says 1 (the tests' in-process simulator needs that).
            answered = pool.map(send, rounds) if width > 1 else map(send, rounds)
            throttled, wait = [], 0.0
            for chunk, answers in zip(rounds, answered, strict=True):
                for n, target in enumerate(chunk):
                    answer = answers.get(str(n), UNANSWERED)
                    if answer.throttled:
                        throttled.append(target)
                        wait = max(wait, answer.retry_after or 0.0)
                        continue
                    state, detail = classify(kind, answer)
                    found.append(Check(target.microsoft_id, target.name, state, detail, user_id=target.user_id))
            if throttled:
                if wait > INLINE_WAIT_SECONDS:
                    return found, wait
                time.sleep(wait)
                pending = throttled + pending
    return found, 0.0


UNANSWERED = batch.Answer(status=0, message="Microsoft Graph did not answer this request.")


def _send(client: graph.GraphClient, chunk: list[Target]) -> dict[str, batch.Answer]:
    return batch.send(client, {str(n): target.path for n, target in enumerate(chunk)})


def sharepoint_pause(checked: int, licensed_users: int, spent_seconds: float) -> float:
    """How long to wait after `checked` OneDrive requests that took `spent_seconds`, so that verification keeps within
    COVERAGE_SHAREPOINT_BUDGET_PERCENT of the application's SharePoint budget in the tenant (resource units per minute
    by licence count; a drive's GET costs 1 unit, and every request of a batch counts). Source: "Avoid getting
    throttled or blocked in SharePoint Online",
    https://learn.microsoft.com/sharepoint/dev/general-development/how-to-avoid-getting-throttled-or-blocked-in-sharepoint-online
    """
    per_minute = next(units for licences, units in SHAREPOINT_APP_UNITS_PER_MINUTE if licensed_users <= licences)
    allowed = per_minute * settings.COVERAGE_SHAREPOINT_BUDGET_PERCENT / 100 / 60
    return max(0.0, checked / allowed - spent_seconds)


# Resource units per application per minute in a tenant, by the tenant's licence count (the page above).
SHAREPOINT_APP_UNITS_PER_MINUTE = ((1_000, 1_250), (5_000, 2_500), (15_000, 3_750), (50_000, 5_000), (10**12, 6_250))


# Which objects a verification checks.


def _users_to_check(service: ProtectedService, summary: ServiceCoverage, limit: int) -> list[Target]:
    assert summary.verification_started_at is not None
    started = summary.verification_started_at
    rows = ObjectCoverage.objects.filter(service=service)
    wanted = ~Q(microsoft_id__in=rows.values("user_id"))  # never checked
    recheck_before = started - timedelta(seconds=settings.COVERAGE_UNCOVERED_RECHECK_SECONDS)
    wanted |= Q(
        microsoft_id__in=rows.filter(
            ~Q(state=CoverageState.COVERED) & Q(checked_at__lt=recheck_before) | Q(state=CoverageState.UNCHECKED)
        ).values("user_id")
    )
    if summary.verification_is_probe:
        wanted |= Q(
            microsoft_id__in=rows.filter(state=CoverageState.COVERED, rotation_slot=summary.rotation_slot).values(
                "user_id"
            )
        )
    if summary.directory_as_of is not None:
        changed_groups = GroupMembership.objects.filter(
            organization_id=service.organization_id, synced_at__gt=summary.directory_as_of
        ).values("group_id")
        wanted |= Q(synced_at__gt=summary.directory_as_of)
        wanted |= Q(
            microsoft_id__in=GroupMembership.objects.filter(
                organization_id=service.organization_id, group_id__in=changed_groups, member_type=MemberType.USER
            ).values("member_id")
        )
    done = rows.filter(checked_at__gte=started).values("user_id")
    path = MAILBOX_PATH if service.kind == ServiceKind.EXCHANGE_ONLINE else DRIVE_PATH
    users = (
        services.users_in_scope(service)
        .filter(wanted)
        .exclude(microsoft_id__in=done)
        .order_by("microsoft_id")
        .values_list("microsoft_id", "user_principal_name")[:limit]
    )
    return [Target(str(uid), upn, path.format(id=uid), user_id=uid) for uid, upn in users]


def _listed(client: graph.GraphClient, kind: str) -> Iterator[tuple[str, str]]:
    path, select = LISTINGS[kind]
    link: str | None = path
    params: dict[str, str] | None = {"$select": select}
    while link:
        page = client._get(link, params=params)
        params = None  # a nextLink carries its own query
        for item in page.get("value", ()):
            if kind == ServiceKind.SHAREPOINT_ONLINE and item.get("isPersonalSite"):
                continue  # OneDrives are counted under OneDrive
            yield str(item["id"]), str(item.get("webUrl") or item.get("displayName") or item["id"])
        link = page.get("@odata.nextLink")


# The chain of tasks.


def start_verification(service: ProtectedService, *, probe: bool = True, now: datetime | None = None) -> int | None:
    """Open a verification of the service unless one holds its lease; the fence of its first task, or None.

    After a sync (`probe=False`) it checks what changed; the hourly probe also checks the rotation's slot."""
    now = now or timezone.now()
    with transaction.atomic():
        summary, _ = ServiceCoverage.objects.select_for_update().get_or_create(
            service=service, defaults={"organization_id": service.organization_id}
        )
        if summary.verification_started_at is not None and summary.lease_expires_at and summary.lease_expires_at > now:
            return None
        if summary.verification_started_at is None:
            summary.verification_started_at, summary.verification_is_probe = now, probe
        summary.verification_fence += 1
        summary.lease_expires_at = now + timedelta(seconds=settings.COVERAGE_LEASE_SECONDS)
        summary.save(
            update_fields=["verification_started_at", "verification_is_probe", "verification_fence", "lease_expires_at"]
        )
        fence = summary.verification_fence
        transaction.on_commit(lambda: verify_step.delay(service.pk, fence))
    return fence


def run_step(service_id: int, fence: int, *, now: datetime | None = None) -> float | None:
    """One task of a verification: None when it is over (or the fence is stale), else the countdown to the next."""
    now = now or timezone.now()
    with transaction.atomic():
        summary = ServiceCoverage.objects.select_for_update().select_related("service").get(service_id=service_id)
        if summary.verification_fence != fence or summary.verification_started_at is None:
            return None
        summary.lease_expires_at = now + timedelta(seconds=settings.COVERAGE_LEASE_SECONDS)
        summary.save(update_fields=["lease_expires_at"])
    service = summary.service
    tenant_id = service.organization.microsoft_tenant_id
    if tenant_id is None or not ServiceAccount.objects.filter(service=service).exists():
        _close(summary, fence, now, summarize=False)
        return None
    client = graph.GraphClient(tenant_id=str(tenant_id))
    try:
        if service.kind in USER_SERVICES:
            targets = _users_to_check(service, summary, settings.COVERAGE_OBJECTS_PER_TASK)
            if not targets:
                _close(summary, fence, now, summarize=True)
                return None
            began = time.monotonic()
            found, wait = check_all(client, service.kind, targets)
            services.record_checks(service, found, now=now)
            if service.kind == ServiceKind.ONEDRIVE:
                licensed = services.users_in_scope(service).filter(is_licensed=True).count()
                wait = max(wait, sharepoint_pause(len(found), licensed, time.monotonic() - began))
            return wait
        listed = dict(_listed(client, service.kind))
        targets = [Target(mid, name, ITEM_PATHS[service.kind].format(id=mid)) for mid, name in listed.items()]
        found, wait = check_all(client, service.kind, targets)
        if wait:
            services.record_checks(service, found, now=now)
            return wait
        with transaction.atomic():
            services.forget_objects(service, keep=listed)
            services.record_checks(service, found, now=now)
        _close(summary, fence, now, summarize=True)
        return None
    except errors.Throttled as exc:
        return exc.retry_after
    except errors.MicrosoftError as exc:
        # The connection itself is refused (consent revoked, a permission missing): the health probe reports that;
        # coverage keeps its last findings and tries again at the next verification.
        logger.warning("coverage verification of service %s stopped: %s", service_id, exc.answer)
        _close(summary, fence, now, summarize=False)
        return None


def _close(summary: ServiceCoverage, fence: int, now: datetime, *, summarize: bool) -> None:
    with transaction.atomic():
        locked = ServiceCoverage.objects.select_for_update().get(pk=summary.pk)
        if locked.verification_fence != fence:
            return
        started = locked.verification_started_at
        ServiceCoverage.objects.filter(pk=locked.pk).update(
            verification_started_at=None,
            lease_expires_at=None,
            rotation_slot=(locked.rotation_slot + 1) % services.ROTATION_SLOTS
            if summarize and locked.verification_is_probe
            else locked.rotation_slot,
        )
        if summarize:
            services.summarize(summary.service, directory_as_of=started, now=now)


@shared_task(name="coverage.verify_step")
def verify_step(service_id: int, fence: int) -> None:
    countdown = run_step(service_id, fence)
    if countdown is not None:
        verify_step.apply_async((service_id, fence), countdown=countdown)


def due_services(now: datetime | None = None) -> list[tuple[ProtectedService, bool]]:
    """Granted services whose coverage is due, each with whether it is the probe: never verified or not for an hour
    (the probe), or a sync succeeded since the last verification (what changed)."""
    now = now or timezone.now()
    probe_before = now - timedelta(seconds=settings.COVERAGE_PROBE_SECONDS)
    granted = ProtectedService.objects.filter(
        service_account__isnull=False, organization__microsoft_tenant_id__isnull=False
    ).exclude(coverage__lease_expires_at__gt=now)
    probe = Q(coverage__isnull=True) | Q(coverage__verified_at__isnull=True) | Q(coverage__verified_at__lt=probe_before)
    synced = Q(
        organization__sync_runs__status=SyncStatus.SUCCEEDED,
        organization__sync_runs__finished_at__gt=F("coverage__verified_at"),
    )
    probes = set(granted.filter(probe).values_list("pk", flat=True))
    due = granted.filter(probe | synced).select_related("organization").distinct().order_by("pk")
    return [(service, service.pk in probes) for service in due]


def verify_after_sync(sender: type, run: SyncRun, **kwargs: object) -> None:  # noqa: ARG001 (a signal's arguments)
    """When a sync succeeded, verify the organization's granted services at once (what changed), once it commits;
    the dispatcher would start them at its next tick, and starts any that this misses."""
    granted = list(ProtectedService.objects.filter(organization_id=run.organization_id, service_account__isnull=False))

    def start() -> None:
        for service in granted:
            start_verification(service, probe=False)

    transaction.on_commit(start)


@shared_task(name="coverage.dispatch_verifications")
def dispatch_verifications() -> int:
    started = 0
    for service, probe in due_services():
        if start_verification(service, probe=probe) is not None:
            started += 1
    return started
