"""The dispatcher reads the rows that are due, not every organization's, and queues what it queued before."""

import datetime as dt
import uuid

import pytest
from django.db import connection
from django.db.models.signals import post_init
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from directory.models import SyncRun, SyncSettings, SyncStatus
from directory.schedule import dispatch_due_syncs, due_at
from directory.settings import change_sync_settings
from organizations.models import Organization, ProtectedService, Region, ServiceStatus
from organizations.services import create_organization
from tests.factories import ServiceAccountFactory

pytestmark = pytest.mark.django_db

DAY = dt.date(2027, 3, 1)
FIVE_MINUTES = dt.timedelta(minutes=5)


def connect(organization: Organization) -> Organization:
    """All-users mode with Exchange Online granted and synchronized once (Protected)."""
    organization.microsoft_tenant_id = uuid.uuid4()
    organization.save(update_fields=["microsoft_tenant_id"])
    service = ProtectedService.objects.get(organization=organization, kind="exchange-online")
    ServiceAccountFactory.create(service=service)
    ProtectedService.objects.filter(pk=service.pk).update(status=ServiceStatus.PROTECTED)
    return organization


def new_organization(region: str = Region.NORTH_AMERICA) -> Organization:
    return create_organization(name=f"Scheduled {uuid.uuid4().hex[:8]}", region=region, actor=None)


def connected(count: int, region: str = Region.NORTH_AMERICA) -> list[Organization]:
    return [connect(new_organization(region)) for _ in range(count)]


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC)


def tick_with(due: int, day: dt.date) -> tuple[int, int, int]:
    """`due` organizations due at 03:00 on `day`, the others at 20:00: the 03:05 tick's queries, the sync settings
    it read (rows made into models) and the syncs it queued."""
    rows = list(SyncSettings.objects.order_by("pk"))
    SyncSettings.objects.update(daily_sync_time=dt.time(20, 0), next_due_at=None)
    SyncSettings.objects.filter(pk__in=[row.pk for row in rows[:due]]).update(daily_sync_time=dt.time(3, 0))
    SyncRun.objects.update(status=SyncStatus.SUCCEEDED)  # yesterday's runs ended: today's are not folded into them
    assert dispatch_due_syncs(at(day, 2)) == 0  # a tick before: every row gets its time
    read = []

    def count(instance: object, **kwargs: object) -> None:
        read.append(instance)

    post_init.connect(count, sender=SyncSettings)
    try:
        with CaptureQueriesContext(connection) as ctx:
            queued = dispatch_due_syncs(at(day, 3, 5))
    finally:
        post_init.disconnect(count, sender=SyncSettings)
    return len(ctx.captured_queries), len(read), queued


def test_a_tick_grows_with_the_syncs_due_not_with_the_organizations(settings):
    settings.SYNC_SCHEDULE_WINDOW_SECONDS = 60
    due_counts = (0, 1, 5)
    ticks: dict[int, list[tuple[int, int, int]]] = {}
    day = DAY
    for organizations in (10, 100):
        connected(organizations - Organization.objects.count())
        ticks[organizations] = []
        for due in due_counts:
            ticks[organizations].append(tick_with(due, day))
            day += dt.timedelta(days=1)
    assert ticks[10] == ticks[100]
    queries, read, queued = zip(*ticks[10], strict=True)
    assert queued == due_counts
    assert read == due_counts  # the rows due, and no other
    # One read of the due rows, then each sync's own queries.
    per_sync = queries[1] - queries[0]
    assert per_sync > 0
    assert queries[2] == queries[0] + 5 * per_sync


def test_organizations_are_queued_at_the_tick_after_their_due_time_every_day(settings):
    settings.SYNC_SCHEDULE_WINDOW_SECONDS = 3 * 3600
    organizations = [*connected(6, Region.EUROPE), *connected(6, Region.JAPAN), *connected(6)]
    SyncSettings.objects.filter(organization__in=organizations[::4]).update(daily_sync_time=dt.time(21, 40))
    late = new_organization(Region.EUROPE)
    days = [DAY, DAY + dt.timedelta(days=1)]
    moved_later = organizations[1]
    queued_at: dict[int, list[dt.datetime]] = {}
    tick = at(days[0], 0)
    while tick < at(days[-1] + dt.timedelta(days=1), 0):
        if tick == at(days[0], 12):  # connected after its due time: today's sync is still queued, as before
            connect(late)
        if tick == at(days[1], 0):  # staff moved one time later overnight (a later time needs no reset)
            SyncSettings.objects.filter(organization=moved_later).update(daily_sync_time=dt.time(14, 0))
        before = dict(SyncSettings.objects.values_list("organization_id", "last_scheduled_on"))
        queued = dispatch_due_syncs(tick)
        after = dict(SyncSettings.objects.values_list("organization_id", "last_scheduled_on"))
        changed = [pk for pk, day in after.items() if day != before.get(pk)]
        assert queued == len(changed)
        for pk in changed:
            queued_at.setdefault(pk, []).append(tick)
        tick += FIVE_MINUTES

    def first_tick_from(moment: dt.datetime) -> dt.datetime:
        start = dt.datetime.combine(moment.date(), dt.time(0), tzinfo=dt.UTC)
        return start + FIVE_MINUTES * -(-(moment - start) // FIVE_MINUTES)

    rows = {row.organization_id: row for row in SyncSettings.objects.select_related("organization")}
    for organization in organizations:
        row = rows[organization.pk]
        expected = [first_tick_from(due_at(row, day)) for day in days]
        if organization == moved_later:
            row.daily_sync_time = None
            expected[0] = first_tick_from(due_at(row, days[0]))
        assert queued_at[organization.pk] == expected, organization
    assert queued_at[late.pk] == [at(days[0], 12), first_tick_from(due_at(rows[late.pk], days[1]))]


def test_a_time_moved_earlier_by_staff_is_kept_the_same_day(settings):
    staff = User.objects.create(email="staff@casportal.test", is_staff=True)
    settings.SYNC_SCHEDULE_WINDOW_SECONDS = 60
    (organization,) = connected(1)
    row = SyncSettings.objects.select_related("organization").get(organization=organization)
    change_sync_settings(sync_settings=row, mode=row.mode, daily_sync_time=dt.time(20, 0), actor=staff)
    assert dispatch_due_syncs(at(DAY, 2)) == 0  # its next due time: 20:00
    change_sync_settings(sync_settings=row, mode=row.mode, daily_sync_time=dt.time(3, 0), actor=staff)
    assert dispatch_due_syncs(at(DAY, 3, 5)) == 1
