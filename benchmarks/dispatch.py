"""The daily dispatcher's cost per tick at 10, 100 and 1,000 organizations, against PostgreSQL.

Every organization is in all-users mode with Exchange Online granted and synchronized once; none, then `--due` of
them, are due at 03:00, the others at 20:00. A tick at 02:00 gives every row its next due time, then the 03:05 tick is
measured: its queries, the sync settings it read (rows made into models) and its wall time, beside the rows the
earlier design read at that tick (every all-users organization not yet queued today, each due time computed in
Python). Each measurement runs in a transaction rolled back at its end: the syncs it queues never reach a worker.

    python -m benchmarks.dispatch                   # BENCH_DATABASE_URL + "_dispatch", dropped and re-created
    python -m benchmarks.dispatch --due 5 --organizations 10,100,1000
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import uuid

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/casportal_bench"
DAY = dt.date(2027, 3, 1)


def _say(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def _database_url() -> str:
    url = (os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL) + "_dispatch"
    if not url.startswith("postgres"):
        sys.exit("The benchmarks run on PostgreSQL: set BENCH_DATABASE_URL=postgres://...")
    return url


def _recreate_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def _add_organizations(count: int) -> None:
    """`count` more organizations, connected and Protected, written in bulk (the dispatcher only reads them)."""
    from django.utils import timezone

    from connection.models import ServiceAccount
    from directory.models import SyncSettings
    from organizations.models import Organization, ProtectedService, ServiceKind, ServiceStatus

    now = timezone.now()
    organizations = Organization.objects.bulk_create(
        Organization(name=f"Dispatch {n}", slug=f"dispatch-{uuid.uuid4().hex[:12]}", microsoft_tenant_id=uuid.uuid4())
        for n in range(count)
    )
    SyncSettings.objects.bulk_create(SyncSettings(organization=organization) for organization in organizations)
    services = ProtectedService.objects.bulk_create(
        ProtectedService(organization=organization, kind=ServiceKind.EXCHANGE_ONLINE, status=ServiceStatus.PROTECTED)
        for organization in organizations
    )
    ServiceAccount.objects.bulk_create(
        ServiceAccount(
            organization_id=service.organization_id,
            service=service,
            microsoft_tenant_id=uuid.uuid4(),
            authorized_account="admin@dispatch.onmicrosoft.com",
            authorized_object_id=uuid.uuid4(),
            granted_at=now,
        )
        for service in services
    )


def _tick(due: int, day: dt.date) -> dict[str, float]:
    from django.db import connection, transaction
    from django.db.models.signals import post_init
    from django.test.utils import CaptureQueriesContext

    from directory.models import SyncMode, SyncSettings
    from directory.schedule import dispatch_due_syncs

    tick = dt.datetime.combine(day, dt.time(3, 5), tzinfo=dt.UTC)
    read: list[object] = []

    def count(instance: object, **kwargs: object) -> None:
        read.append(instance)

    with transaction.atomic():
        first = list(SyncSettings.objects.order_by("pk").values_list("pk", flat=True)[:due])
        SyncSettings.objects.update(daily_sync_time=dt.time(20, 0), next_due_at=None)
        SyncSettings.objects.filter(pk__in=first).update(daily_sync_time=dt.time(3, 0))
        dispatch_due_syncs(tick.replace(hour=2, minute=0))
        earlier_design = (
            SyncSettings.objects.filter(mode=SyncMode.ALL, organization__microsoft_tenant_id__isnull=False)
            .exclude(last_scheduled_on=day)
            .count()
        )
        post_init.connect(count, sender=SyncSettings)
        try:
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                queued = dispatch_due_syncs(tick)
                seconds = time.perf_counter() - started
        finally:
            post_init.disconnect(count, sender=SyncSettings)
        transaction.set_rollback(True)
    return {
        "queued": queued,
        "queries": len(queries.captured_queries),
        "read": len(read),
        "earlier_read": earlier_design,
        "ms": round(seconds * 1000, 1),
    }


def measure(sizes: list[int], due: int) -> None:
    from django.conf import settings

    from organizations.models import Organization

    settings.SYNC_SCHEDULE_WINDOW_SECONDS = 60  # every row due within a minute of its time
    for size in sizes:
        _add_organizations(size - Organization.objects.count())
        for syncs in (0, due):
            figures = _tick(syncs, DAY)
            if figures["queued"] != syncs:
                sys.exit(f"{size} organizations: the tick queued {figures['queued']}, not {syncs}")
            _say(
                f"dispatcher tick at {size:,} organizations, {syncs} due",
                f"{figures['queries']} {'query' if figures['queries'] == 1 else 'queries'}, "
                f"{figures['read']} sync settings read "
                f"(the earlier design read {figures['earlier_read']:,}), {figures['ms']} ms",
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--organizations", default="10,100,1000", help="comma-separated")
    parser.add_argument("--due", type=int, default=5)
    args = parser.parse_args()
    url = _database_url()
    _recreate_database(url)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="casportal.settings", DATABASE_URL=url, M365SIM_DATABASE_URL=url, LOG_LEVEL="WARNING"
    )
    os.environ.setdefault("DJANGO_ENV", "development")
    import django

    django.setup()
    from django.core.management import call_command

    _say("database", url.rsplit("@", 1)[-1])
    call_command("migrate", interactive=False, verbosity=0)
    measure(sorted(int(size) for size in args.organizations.split(",")), args.due)


if __name__ == "__main__":
    main()
