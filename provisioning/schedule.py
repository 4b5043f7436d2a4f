"""The daily synchronization: one dispatcher, run by beat every few minutes, queues the syncs that are due."""

import datetime as dt
import random

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from provisioning.models import SyncKind, SyncMode, SyncSettings, SyncTrigger
from tenants.models import ProtectedService, Region, ServiceStatus

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


def daily_sync_time(sync_settings: SyncSettings) -> dt.time:
    return sync_settings.daily_sync_time or DEFAULT_DAILY_SYNC_TIMES[Region(sync_settings.tenant.region)]


def dispatch_due_syncs(now: dt.datetime | None = None) -> int:
    """Queue today's sync of every all-users organization whose time has come; returns how many were queued."""
    from provisioning.services import request_sync

    now = now or timezone.now()
    today = now.date()
    candidates = (
        SyncSettings.objects.filter(mode=SyncMode.ALL, tenant__microsoft_tenant_id__isnull=False)
        .exclude(last_scheduled_on=today)
        .select_related("tenant")
    )
    queued = 0
    for sync_settings in candidates.iterator():
        if now.time() < daily_sync_time(sync_settings):
            continue
        service = (
            ProtectedService.objects.filter(tenant=sync_settings.tenant, status=ServiceStatus.PROTECTED)
            .order_by("kind")
            .first()
        )
        if service is None:
            continue
        with transaction.atomic():
            claimed = (
                SyncSettings.objects.filter(pk=sync_settings.pk)
                .exclude(last_scheduled_on=today)
                .update(last_scheduled_on=today)
            )
            if not claimed:
                continue
            # When a sync of the organization is already running, today's is folded into it.
            request_sync(
                service=service,
                kind=SyncKind.DELTA,
                trigger=SyncTrigger.SCHEDULED,
                actor=None,
                countdown=random.uniform(0, settings.SYNC_SCHEDULE_JITTER_SECONDS),  # noqa: S311
            )
        queued += 1
    return queued
