"""The only writes of coverage: each check's finding per object, then each service's summary, in one transaction
with the audit event of a change; the customer's admins are emailed once when an access policy cuts coverage."""

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Count, QuerySet
from django.urls import reverse
from django.utils import timezone

from audit.models import Action
from audit.services import record_event
from coverage.models import USER_SERVICES, CoverageState, ObjectCoverage, ServiceCoverage
from directory.models import DirectoryUser, SelectedUser, SyncMode, SyncSettings
from organizations.models import ProtectedService
from organizations.services import email_admins

NOT_CHECKED_YET = "not-checked-yet"  # a counts key: in scope, no check has reached it yet


@dataclass(frozen=True)
class Check:
    """What one check found of one object."""

    microsoft_id: str
    name: str
    state: CoverageState
    detail: str = ""
    user_id: uuid.UUID | None = None  # a mailbox's or a OneDrive's user


ROTATION_SLOTS = 24


def rotation_slot(microsoft_id: str) -> int:
    """The slot of the rotation in which this covered object is checked again: stable, spread evenly."""
    return int.from_bytes(hashlib.sha256(microsoft_id.encode()).digest()[:4], "big") % ROTATION_SLOTS


def users_in_scope(service: ProtectedService) -> QuerySet[DirectoryUser]:
    """The enabled synchronized users (all users), or the enabled chosen users (certain users, for testing)."""
    users = DirectoryUser.objects.filter(organization_id=service.organization_id, account_enabled=True)
    if SyncSettings.objects.filter(organization_id=service.organization_id, mode=SyncMode.CERTAIN).exists():
        chosen = SelectedUser.objects.filter(organization_id=service.organization_id).values("microsoft_id")
        users = users.filter(microsoft_id__in=chosen)
    return users


@transaction.atomic
def record_checks(service: ProtectedService, checks: Iterable[Check], *, now: datetime | None = None) -> int:
    """Store what the checks found; an object whose state changed starts its `state_since` again."""
    now = now or timezone.now()
    checks = list(checks)
    known = {
        row.microsoft_id: row
        for row in ObjectCoverage.objects.filter(service=service, microsoft_id__in=[c.microsoft_id for c in checks])
    }
    changed, added = [], []
    for check in checks:
        row = known.get(check.microsoft_id)
        if row is None:
            added.append(
                ObjectCoverage(
                    organization_id=service.organization_id,
                    service=service,
                    microsoft_id=check.microsoft_id,
                    user_id=check.user_id,
                    rotation_slot=rotation_slot(check.microsoft_id),
                    name=check.name[:400],
                    state=check.state,
                    detail=check.detail[:400],
                    checked_at=now,
                    state_since=now,
                )
            )
            continue
        if row.state != check.state:
            row.state_since = now
        row.state, row.detail, row.name, row.checked_at = check.state, check.detail[:400], check.name[:400], now
        changed.append(row)
    ObjectCoverage.objects.bulk_create(added, batch_size=1000)
    ObjectCoverage.objects.bulk_update(
        changed, ["state", "detail", "name", "checked_at", "state_since"], batch_size=1000
    )
    return len(checks)


@transaction.atomic
def forget_objects(service: ProtectedService, *, keep: Iterable[str]) -> int:
    """Sites or teams no longer listed by Microsoft leave the service's coverage."""
    deleted, _ = ObjectCoverage.objects.filter(service=service).exclude(microsoft_id__in=list(keep)).delete()
    return deleted


@transaction.atomic
def summarize(
    service: ProtectedService, *, directory_as_of: datetime | None = None, now: datetime | None = None
) -> ServiceCoverage:
    """Count the service's objects in scope by state; record a change on Activity, and a drop as one incident."""
    now = now or timezone.now()
    summary, _ = ServiceCoverage.objects.select_for_update().get_or_create(
        service=service, defaults={"organization_id": service.organization_id}
    )
    rows = ObjectCoverage.objects.filter(service=service)
    if service.kind in USER_SERVICES:
        scope = users_in_scope(service)
        # A user who left the directory, or the scope, leaves the service's coverage.
        rows.exclude(user_id__in=scope.values("microsoft_id")).delete()
        in_scope = scope.count()
    else:
        in_scope = rows.count()
    counts = {state: n for state, n in rows.values_list("state").annotate(n=Count("pk")).order_by()}
    checked = sum(counts.values())
    if in_scope > checked:
        counts[NOT_CHECKED_YET] = in_scope - checked
    covered = counts.get(CoverageState.COVERED, 0)
    before = (summary.covered, summary.in_scope, dict(summary.counts)) if summary.verified_at else None
    _follow_drop(summary, before, covered, counts, now)
    summary.in_scope, summary.covered, summary.counts, summary.verified_at = in_scope, covered, counts, now
    if directory_as_of is not None:
        summary.directory_as_of = directory_as_of
    summary.save()
    if before is None or before[:2] != (covered, in_scope):
        record_event(
            Action.COVERAGE_CHANGED,
            actor=None,
            organization=service.organization,
            target=service.get_kind_display(),
            details={
                "covered": covered,
                "in_scope": in_scope,
                "covered_before": before[0] if before else None,
                "in_scope_before": before[1] if before else None,
                "counts": counts,
            },
        )
    return summary


def _follow_drop(
    summary: ServiceCoverage, before: tuple[int, int, dict] | None, covered: int, counts: dict, now: datetime
) -> None:
    """A drop opens an incident that lasts until coverage is back where it was; a drop an access policy caused
    emails the admins, once per incident."""
    if before is None:
        return
    if summary.dropped_since is None and covered < before[0]:
        summary.dropped_since, summary.covered_before_drop, summary.drop_notified = now, before[0], False
    elif summary.dropped_since is not None and covered >= (summary.covered_before_drop or 0):
        summary.dropped_since = summary.covered_before_drop = None
        summary.drop_notified = False
        return
    if summary.dropped_since is None or summary.drop_notified:
        return
    refused_before = before[2].get(CoverageState.POLICY_REFUSED, 0)
    if counts.get(CoverageState.POLICY_REFUSED, 0) > refused_before:
        summary.drop_notified = True
        service_id, refused = summary.service_id, counts[CoverageState.POLICY_REFUSED]
        transaction.on_commit(lambda: send_policy_drop_email(service_id, refused))


def send_policy_drop_email(service_id: int, refused: int) -> int:
    """Tell the organization's admins that an application access policy now refuses mailboxes; returns how many."""
    service = ProtectedService.objects.select_related("organization").get(pk=service_id)
    organization = service.organization
    return email_admins(
        organization,
        subject=f"casportal's coverage of {organization.name}'s {service.get_kind_display()} dropped",
        template="coverage/email/policy_drop.txt",
        context={
            "service": service,
            "refused": refused,
            "coverage_url": settings.PORTAL_BASE_URL
            + reverse("service_coverage", args=[organization.slug, service.kind]),
        },
    )
