import datetime as dt

import pytest
from django.utils import timezone

from directory.models import SyncRun, SyncSettings, SyncTrigger
from directory.schedule import DEFAULT_DAILY_SYNC_TIMES, daily_sync_time, dispatch_due_syncs, due_at
from organizations.models import Organization, Region

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


def at(hour: int, minute: int = 0) -> dt.datetime:
    return timezone.now().replace(hour=hour, minute=minute, second=0, microsecond=0)


def test_each_region_has_its_night_time():
    assert DEFAULT_DAILY_SYNC_TIMES[Region.EUROPE] == dt.time(0, 15)
    assert DEFAULT_DAILY_SYNC_TIMES[Region.NORTH_AMERICA] == dt.time(8, 15)
    assert set(DEFAULT_DAILY_SYNC_TIMES) == set(Region)


def test_the_daily_sync_is_queued_once_when_due(protected, driver):
    settings_row = SyncSettings.objects.select_related("organization").get(organization=protected.organization)
    assert daily_sync_time(settings_row) == dt.time(8, 15)  # the default region
    due = due_at(settings_row, timezone.now().date())
    assert at(8, 15) <= due < at(11, 15)  # within the region's window
    assert dispatch_due_syncs(due - dt.timedelta(seconds=1)) == 0
    with driver.capture(execute=True):
        assert dispatch_due_syncs(due) == 1
    assert dispatch_due_syncs(due + dt.timedelta(minutes=5)) == 0  # once a day
    ((queued, _),) = driver.tasks.pending
    assert queued.countdown == 0
    driver.tasks.run()
    run = SyncRun.objects.filter(organization=protected.organization).latest("queued_at")
    assert (run.trigger, run.status) == (SyncTrigger.SCHEDULED, "succeeded")


def test_a_time_set_by_staff_wins_over_the_region(protected, settings):
    settings.SYNC_SCHEDULE_WINDOW_SECONDS = 60
    SyncSettings.objects.filter(organization=protected.organization).update(daily_sync_time=dt.time(3, 0))
    assert dispatch_due_syncs(at(2, 59)) == 0
    assert dispatch_due_syncs(at(3, 1)) == 1


def test_thousands_of_organizations_spread_evenly_over_the_window(settings):
    settings.SYNC_SCHEDULE_WINDOW_SECONDS = 3 * 3600
    organizations = 5000
    sync_settings = [SyncSettings(organization=Organization(region=Region.EUROPE)) for _ in range(organizations)]
    today = dt.date(2027, 3, 1)
    opens = dt.datetime(2027, 3, 1, 0, 15, tzinfo=dt.UTC)
    offsets = [(due_at(row, today) - opens).total_seconds() for row in sync_settings]
    assert all(0 <= offset < 3 * 3600 for offset in offsets)
    # What each 5-minute run of the dispatcher queues: about the same everywhere, no burst.
    buckets = [0] * 36
    for offset in offsets:
        buckets[int(offset // 300)] += 1
    expected = organizations / len(buckets)
    assert max(buckets) < 1.4 * expected
    assert min(buckets) > 0.6 * expected
    # An organization keeps its place from one day to the next.
    row = sync_settings[0]
    assert due_at(row, today + dt.timedelta(days=1)) - due_at(row, today) == dt.timedelta(days=1)


def test_a_late_time_keeps_the_sync_on_the_same_day(settings):
    settings.SYNC_SCHEDULE_WINDOW_SECONDS = 3 * 3600
    today = dt.date(2027, 3, 1)
    rows = [SyncSettings(organization=Organization(), daily_sync_time=dt.time(23, 0)) for _ in range(500)]
    assert all(due_at(row, today).date() == today and due_at(row, today).time() < dt.time(23, 50) for row in rows)
