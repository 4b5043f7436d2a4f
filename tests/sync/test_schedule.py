import datetime as dt

import pytest
from django.utils import timezone

from provisioning.models import SyncRun, SyncSettings, SyncTrigger
from provisioning.schedule import DEFAULT_DAILY_SYNC_TIMES, daily_sync_time, dispatch_due_syncs
from tenants.models import Region

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


def at(hour: int, minute: int = 0) -> dt.datetime:
    return timezone.now().replace(hour=hour, minute=minute, second=0, microsecond=0)


def test_each_region_has_its_night_time():
    assert DEFAULT_DAILY_SYNC_TIMES[Region.EUROPE] == dt.time(0, 15)
    assert DEFAULT_DAILY_SYNC_TIMES[Region.NORTH_AMERICA] == dt.time(8, 15)
    assert set(DEFAULT_DAILY_SYNC_TIMES) == set(Region)


def test_the_daily_sync_is_queued_once_when_due(protected, driver):
    settings_row = SyncSettings.objects.get(tenant=protected.tenant)
    assert daily_sync_time(settings_row) == dt.time(8, 15)  # the default region
    assert dispatch_due_syncs(at(8, 0)) == 0
    with driver.capture(execute=True):
        assert dispatch_due_syncs(at(8, 20)) == 1
    assert dispatch_due_syncs(at(8, 25)) == 0  # once a day
    ((queued, _),) = driver.tasks.pending
    assert 0 <= queued.countdown <= 600  # spread with jitter
    driver.tasks.run()
    run = SyncRun.objects.filter(tenant=protected.tenant).latest("queued_at")
    assert (run.trigger, run.status) == (SyncTrigger.SCHEDULED, "succeeded")


def test_a_time_set_by_staff_wins_over_the_region(protected):
    SyncSettings.objects.filter(tenant=protected.tenant).update(daily_sync_time=dt.time(3, 0))
    assert dispatch_due_syncs(at(2, 59)) == 0
    assert dispatch_due_syncs(at(3, 1)) == 1
