"""The daily purge enforces the retention settings; the client secret's expiry is warned of at 30 and 7 days."""

import datetime as dt

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from audit.models import Action, AuditEvent
from audit.services import record_event
from connection.secret_expiry import warn_of_secret_expiry
from directory.models import SyncRun, SyncStatus
from support.lifecycle import purge_expired_records
from support.lifecycle import purge_expired_records_daily as purge_task
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def age_event(event: AuditEvent, occurred_at: dt.datetime) -> None:
    # Audit events refuse updates by design: a test ages one with raw SQL.
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {AuditEvent._meta.db_table} SET occurred_at = %s WHERE id = %s",  # noqa: S608
            [occurred_at, event.pk],
        )


def queued_days_ago(run: SyncRun, days: int) -> None:
    SyncRun.objects.filter(pk=run.pk).update(queued_at=NOW - dt.timedelta(days=days))


def test_audit_events_are_append_only_except_for_the_purge():
    event = record_event(Action.LOGIN, actor=None)
    with pytest.raises(TypeError):
        AuditEvent.objects.all().delete()
    with pytest.raises(TypeError):
        event.delete()
    assert AuditEvent.objects.purge_older_than(timezone.now() + dt.timedelta(seconds=1)) == 1


def test_the_purge_deletes_what_is_past_retention(settings):
    settings.AUDIT_RETENTION_DAYS = 400
    settings.SYNC_RUN_RETENTION_DAYS = 90
    organization = OrganizationFactory.create()
    old_event = record_event(Action.LOGIN, actor=None, organization=organization)
    kept_event = record_event(Action.LOGIN, actor=None, organization=organization)
    age_event(old_event, NOW - dt.timedelta(days=401))
    age_event(kept_event, NOW - dt.timedelta(days=399))
    runs = {}
    for days, status in [(120, SyncStatus.SUCCEEDED), (100, SyncStatus.FAILED), (30, SyncStatus.SUCCEEDED)]:
        runs[days] = SyncRun.objects.create(organization=organization, kind="full", trigger="grant", status=status)
        queued_days_ago(runs[days], days)
    lone_run = SyncRun.objects.create(
        organization=OrganizationFactory.create(), kind="full", trigger="grant", status=SyncStatus.SUCCEEDED
    )
    queued_days_ago(lone_run, 365)

    purged = purge_expired_records(NOW)

    assert (purged.audit_events, purged.sync_runs) == (1, 2)
    assert not AuditEvent.objects.filter(pk=old_event.pk).exists()
    assert AuditEvent.objects.filter(pk=kept_event.pk).exists()
    # The latest run of each organization stays, however old: its pages show the last synchronization.
    assert set(SyncRun.objects.values_list("pk", flat=True)) == {runs[30].pk, lone_run.pk}


def test_the_purge_never_deletes_a_run_under_way():
    organization = OrganizationFactory.create()
    failed = SyncRun.objects.create(organization=organization, kind="full", trigger="grant", status=SyncStatus.FAILED)
    running = SyncRun.objects.create(organization=organization, kind="full", trigger="grant", status=SyncStatus.RUNNING)
    queued_days_ago(failed, 300)
    queued_days_ago(running, 200)  # stuck for months, but under way: support must see it
    assert purge_task() == {"audit_events": 0, "sync_runs": 1}
    assert list(SyncRun.objects.all()) == [running]


@pytest.mark.parametrize(
    ("days_by_check", "warned"),
    [
        ([40, 31, 30, 29, 8, 7, 6, 0, -1], [30, 7]),  # each warning once
        ([5, 4], [7]),  # a late start: the nearest warning only, not a stale 30-day one as well
        ([31], []),
    ],
)
def test_staff_are_warned_30_and_7_days_before_the_secret_expires(settings, days_by_check, warned):
    settings.MICROSOFT_CLIENT_SECRET_EXPIRES_ON = "2027-07-01"
    settings.STAFF_ALERT_EMAILS = ["ops@casportal.test"]
    expiry = dt.date(2027, 7, 1)
    sent = [warn_of_secret_expiry(expiry - dt.timedelta(days=days)) for days in days_by_check]
    assert [threshold for threshold in sent if threshold] == warned
    assert len(mail.outbox) == len(warned)
    if warned:
        assert mail.outbox[0].to == ["ops@casportal.test"]
        assert "2027-07-01" in mail.outbox[0].subject
        assert "MICROSOFT_CLIENT_SECRET_EXPIRES_ON" in mail.outbox[0].body
    assert AuditEvent.objects.filter(action=Action.APP_CREDENTIAL_EXPIRY_WARNED).count() == len(warned)


def test_a_new_secret_is_warned_of_again(settings):
    settings.MICROSOFT_CLIENT_SECRET_EXPIRES_ON = "2027-07-01"
    assert warn_of_secret_expiry(dt.date(2027, 6, 28)) == 7
    settings.MICROSOFT_CLIENT_SECRET_EXPIRES_ON = "2028-07-01"
    assert warn_of_secret_expiry(dt.date(2028, 6, 10)) == 30


def test_the_warnings_follow_the_configured_days(settings):
    settings.MICROSOFT_CLIENT_SECRET_WARNING_DAYS = (14, 3)
    settings.MICROSOFT_CLIENT_SECRET_EXPIRES_ON = "2027-07-01"
    expiry = dt.date(2027, 7, 1)
    sent = [warn_of_secret_expiry(expiry - dt.timedelta(days=days)) for days in (30, 15, 14, 4, 3, 1)]
    assert [threshold for threshold in sent if threshold] == [14, 3]


@pytest.mark.parametrize("value", ["", "next spring"])
def test_no_warning_without_a_valid_expiry_date(settings, value):
    settings.MICROSOFT_CLIENT_SECRET_EXPIRES_ON = value
    assert warn_of_secret_expiry(dt.date(2027, 6, 28)) is None
    assert not mail.outbox
