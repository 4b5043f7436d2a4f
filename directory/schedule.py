"""The daily synchronization: one dispatcher, run by beat every few minutes, queues the syncs that are due.

Fair share over time: each organization's sync is due at its region's time plus an offset of its own within
SYNC_SCHEDULE_WINDOW_SECONDS, derived from its public id. Thousands of organizations of one region are thus
spread evenly over the window (and each keeps the same time every day) instead of all starting at once; a
random countdown could not do that without countdowns longer than the broker's visibility timeout.

A tick reads only the rows whose stored `next_due_at` has come (an index range), so that its queries and rows grow
with the syncs due, not with the organizations. `next_due_at` is never later than the row's true due time: the
dispatcher sets it to tomorrow's due time when it queues today's sync, and a row read too early (its time moved
later, or never computed: empty) gets today's due time; whether a row is due is still decided by `due_at` alone.
Whatever moves a due time earlier empties it: staff's change of the daily time, and the last grant's removal.
"""

import datetime as dt
import hashlib

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from directory.engine import request_sync
from directory.models import SyncKind, SyncMode, SyncSettings, SyncTrigger
from directory.runs import first_connected_service
from organizations.models import Organization, ProtectedService, Region, ServiceStatus

# UTC, in each data centre's night.
DEFAULT_DAILY_SYNC_TIMES = {
    Region.EUROPE: dt.time(0, 15),
    Region.UNITED_KINGDOM: dt.time(0, 15),
    Region.CANADA: dt.time(5, 15),
    Region.NORTH_AMERICA: dt.time(8, 15),
    Region.INDIA: dt.time(12, 15),
    Region.JAPAN: dt.time(16, 15),
    Region.AUSTRALIA: dt.time(16, 15),
    Region.SINGAPORE: dt.time(17, 15),
}
# A window ends this long before midnight, so that beat (every 5 minutes) still dispatches on the same day.
LAST_DISPATCH_MARGIN = dt.timedelta(minutes=10)
ONE_DAY = dt.timedelta(days=1)


def daily_sync_time(sync_settings: SyncSettings) -> dt.time:
    return sync_settings.daily_sync_time or DEFAULT_DAILY_SYNC_TIMES[Region(sync_settings.organization.region)]


def schedule_offset(organization: Organization, start: dt.time) -> dt.timedelta:
    """The organization's own place in the window that opens at `start`: stable, and uniform over organizations."""
    since_midnight = dt.timedelta(hours=start.hour, minutes=start.minute, seconds=start.second)
    window = min(
        dt.timedelta(seconds=settings.SYNC_SCHEDULE_WINDOW_SECONDS), ONE_DAY - LAST_DISPATCH_MARGIN - since_midnight
    )
    seconds = max(1, int(window.total_seconds()))
    digest = hashlib.sha256(organization.public_id.bytes).digest()
    return dt.timedelta(seconds=int.from_bytes(digest[:8], "big") % seconds)


def due_at(sync_settings: SyncSettings, day: dt.date) -> dt.datetime:
    start = daily_sync_time(sync_settings)
    opens = dt.datetime.combine(day, start, tzinfo=dt.UTC)
    return opens + schedule_offset(sync_settings.organization, start)


def rows_read(now: dt.datetime) -> QuerySet[SyncSettings]:
    """The rows a tick reads: all-users organizations with a synchronized service whose stored time has come."""
    synchronized = ProtectedService.objects.filter(
        # first_connected_service(synchronized=True)'s condition, so that a row without one is not read every tick.
        organization=OuterRef("organization"),
        service_account__isnull=False,
        status=ServiceStatus.PROTECTED,
    )
    return (
        SyncSettings.objects.filter(Q(next_due_at__lte=now) | Q(next_due_at__isnull=True))
        .filter(mode=SyncMode.ALL, organization__microsoft_tenant_id__isnull=False)
        .filter(Exists(synchronized))
        .select_related("organization")
    )


def dispatch_due_syncs(now: dt.datetime | None = None) -> int:
    """Queue today's sync of every all-users organization whose time has come; returns how many were queued."""
    now = now or timezone.now()
    today = now.date()
    tomorrow = today + ONE_DAY
    early = []
    queued = 0
    for sync_settings in rows_read(now).iterator():
        if sync_settings.last_scheduled_on == today:
            sync_settings.next_due_at = due_at(sync_settings, tomorrow)
            early.append(sync_settings)
            continue
        today_due = due_at(sync_settings, today)
        if now < today_due:
            sync_settings.next_due_at = today_due
            early.append(sync_settings)
            continue
        service = first_connected_service(sync_settings.organization, synchronized=True)
        if service is None:
            continue
        with transaction.atomic():
            claimed = (
                SyncSettings.objects.filter(pk=sync_settings.pk)
                .exclude(last_scheduled_on=today)
                .update(last_scheduled_on=today, next_due_at=due_at(sync_settings, tomorrow))
            )
            if not claimed:
                continue
            # When a sync of the organization is already running, today's is folded into it.
            request_sync(service=service, kind=SyncKind.DELTA, trigger=SyncTrigger.SCHEDULED, actor=None)
        queued += 1
    # Should a concurrent tick have queued one of these meanwhile, its row gets an earlier time: read once more.
    SyncSettings.objects.bulk_update(early, ["next_due_at"])
    return queued


@shared_task(name="provisioning.dispatch_scheduled_syncs")
def dispatch_scheduled_syncs() -> int:
    return dispatch_due_syncs()
