"""The daily dispatcher's cost per tick at 10, 100 and 1,000 organizations, against PostgreSQL.

Every organization is in all-users mode with Exchange Online granted and synchronized once; none, then `--due` of
them, are due at 03:00, the others at 20:00. A tick at 02:00 gives every row its next due time, then the 03:05 tick is
measured: its queries, the sync settings it read (rows made into models) and its wall time, beside the rows the
earlier design read at that tick (every all-users organization not yet queued today, each due time computed in
Python). Each measurement runs in a transaction rolled back at its end: the syncs it queues never reach a worker.

`many`: 200 organizations, their sizes log-uniform between 20 and 20,000 users (fixed seed; the total printed),
each with a simulated tenant answering every request after 300 ms with Microsoft's page caps (200 users a users
delta page, 500 members@delta entries a groups delta page), all due at once, queued by one dispatcher tick and
synchronized by 2 workers: the time until every organization is synchronized, and the longest wait from the tick
to a run's start for the organizations under 500 users.

    python -m benchmarks.dispatch                   # BENCH_DATABASE_URL + "_dispatch", dropped and re-created
    python -m benchmarks.dispatch --due 5 --organizations 10,100,1000
    python -m benchmarks.dispatch many              # + "_many" and "_many_m365sim"; about 25 minutes
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/casportal_bench"
DAY = dt.date(2027, 3, 1)
MANY, SMALLEST, LARGEST, SIZE_SEED = 200, 20, 20_000, 17
SMALL = 500  # organizations under this many users: their wait is reported apart
LATENCY_MS, CAPS, WORKERS = 300, (200, 500), 2
MANY_BROKER_URL = "redis://127.0.0.1:6379/13"


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


def _sizes() -> list[int]:
    rng = random.Random(SIZE_SEED)  # noqa: S311 (a fixed seed: the same sizes every run; nothing secret)
    return [round(math.exp(rng.uniform(math.log(SMALLEST), math.log(LARGEST)))) for _ in range(MANY)]


def _seed_and_connect(sizes: list[int]) -> None:
    """A simulated tenant per size, consented, slow and capped; its organization connected, Protected, due."""
    from django.utils import timezone

    from connection.models import ServiceAccount
    from directory.models import SyncSettings
    from m365sim import services as sim
    from m365sim.models import Application
    from m365sim.models import User as SimUser
    from m365sim.seed import seed_tenant
    from organizations import services as organization_services
    from organizations.models import ProtectedService, ServiceStatus

    opens = (timezone.now() - dt.timedelta(minutes=2)).time()  # every organization due before the tick
    for n, users in enumerate(sizes):
        slug = f"many{n:03}"
        # A group of 10 members for every 50 users: the users chain is the longer, as in most tenants.
        tenant = seed_tenant(slug, users=users, groups=max(1, users // 50), members_per_group=min(10, users)).tenant
        admin = SimUser.objects.get(user_principal_name=f"admin@{slug}.onmicrosoft.com")
        sim.grant_admin_consent(tenant, Application.objects.get(), user=admin)  # the portal's, seeded with a tenant
        sim.set_faults(tenant, latency_ms=LATENCY_MS, users_delta_page_cap=CAPS[0], members_delta_page_cap=CAPS[1])
        organization = organization_services.create_organization(name=f"Many {n:03}", slug=slug, actor=None)
        organization.microsoft_tenant_id = tenant.id
        organization.save(update_fields=["microsoft_tenant_id"])
        service = ProtectedService.objects.get(organization=organization, kind="exchange-online")
        ServiceAccount.objects.create(
            organization=organization,
            service=service,
            microsoft_tenant_id=tenant.id,
            authorized_account=admin.user_principal_name,
            authorized_object_id=admin.id,
            granted_at=timezone.now(),
        )
        # Protected, as after a first sync: the dispatcher's daily syncs are for those (the first runs a full round).
        ProtectedService.objects.filter(pk=service.pk).update(status=ServiceStatus.PROTECTED)
        SyncSettings.objects.filter(organization=organization).update(daily_sync_time=opens)


def _tick_and_wait(count: int) -> dt.datetime:
    """Start the workers, queue every due sync with one tick, wait until every run ended; the tick's time."""
    from django.db import connections
    from django.utils import timezone

    from casportal.celery import app
    from directory.models import SyncRun
    from directory.schedule import dispatch_due_syncs

    command = [sys.executable, "-m", "celery", "-A", "casportal", "worker", "--pool", "solo", "-Q", "sync", "-l"]
    workers = [
        subprocess.Popen(
            [*command, "WARNING", "-n", f"many{n}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        for n in range(WORKERS)
    ]
    try:
        names = [f"many{n}@{socket.gethostname()}" for n in range(WORKERS)]
        deadline = time.monotonic() + 60
        while len(app.control.ping(destination=names, timeout=1)) < WORKERS:
            if time.monotonic() > deadline:
                sys.exit("the bench's workers did not start")
        connections.close_all()
        tick = timezone.now()
        queued = dispatch_due_syncs(tick)
        if queued != count:
            sys.exit(f"the tick queued {queued} syncs, not {count}")
        deadline = time.monotonic() + 3 * 3600
        while SyncRun.objects.filter(finished_at__isnull=True).exists():
            if time.monotonic() > deadline:
                sys.exit("the syncs did not finish within 3 hours")
            time.sleep(2)
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=30)
    return tick


def many_run(count: int) -> None:
    """In the bench's environment, the simulator serving: seed, connect, queue with one tick, wait, report."""
    import django

    django.setup()
    from directory.models import DirectoryUser, SyncRun

    sizes = _sizes()[:count]
    _say("organizations", f"{count}, {min(sizes):,} to {max(sizes):,} users, {sum(sizes):,} in all (seed {SIZE_SEED})")
    started = time.perf_counter()
    _seed_and_connect(sizes)
    _say("seeded and connected in", f"{time.perf_counter() - started:.0f} s")
    tick = _tick_and_wait(count)
    runs = list(SyncRun.objects.select_related("organization"))
    failed = [run for run in runs if run.status != "succeeded"]
    if failed:
        sys.exit(f"{len(failed)} syncs failed, e.g. {failed[0].organization}: {failed[0].error}")
    size = {f"many{n:03}": users for n, users in enumerate(sizes)}
    last = max(run.finished_at for run in runs if run.finished_at is not None)
    small = [run for run in runs if size[run.organization.slug] < SMALL]
    waits = [(run.started_at - tick).total_seconds() for run in small if run.started_at is not None]
    _say("synchronized users", f"{DirectoryUser.objects.count():,} (the simulator adds 3 named users a tenant)")
    _say("requests", f"{sum(run.requests for run in runs):,}")
    _say("every organization synchronized", f"{(last - tick).total_seconds():.0f} s after the tick")
    _say(
        f"longest wait from the tick to a run's start, organizations under {SMALL} users ({len(small)})",
        f"{max(waits, default=0):.0f} s",
    )


def many(count: int) -> None:
    import redis

    base = (os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL) + "_many"
    if not base.startswith("postgres"):
        sys.exit("The benchmarks run on PostgreSQL: set BENCH_DATABASE_URL=postgres://...")
    for url in (base, base + "_m365sim"):
        _recreate_database(url)
    redis.Redis.from_url(MANY_BROKER_URL).flushdb()  # the bench's own Redis database: no message of an earlier run
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "casportal.settings",
        "DJANGO_ENV": os.environ.get("DJANGO_ENV", "development"),
        "DATABASE_URL": base,
        "M365SIM_DATABASE_URL": base + "_m365sim",
        "MICROSOFT_SIMULATOR_URL": f"http://127.0.0.1:{port}",
        "REDIS_URL": MANY_BROKER_URL,
        "CELERY_BROKER_URL": MANY_BROKER_URL,
        "SYNC_SCHEDULE_WINDOW_SECONDS": "60",
        "SYNC_PAGE_SIZE": str(CAPS[0]),
        "LOG_LEVEL": "WARNING",
        "DEBUG": "0",
    }
    _say("database", base.rsplit("@", 1)[-1])
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([*manage, "migrate", "--database", "m365sim", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    simulator = subprocess.Popen(
        [*manage, "m365sim_serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        child = [sys.executable, "-m", "benchmarks.dispatch", "many-run", "--many", str(count)]
        subprocess.run(child, cwd=ROOT, env=env, check=True)
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="?", default="ticks", choices=["ticks", "many", "many-run"])
    parser.add_argument("--organizations", default="10,100,1000", help="comma-separated")
    parser.add_argument("--due", type=int, default=5)
    parser.add_argument("--many", type=int, default=MANY, help="many: the first N of the 200 organizations")
    args = parser.parse_args()
    if args.what == "many":
        many(args.many)
        return
    if args.what == "many-run":
        many_run(args.many)
        return
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
