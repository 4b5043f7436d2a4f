"""`make bench`: how fast and how lean directory synchronization is, against PostgreSQL.

Prints one line per figure; every ratio compares figures measured in this same run. The simulator runs in its
own process, and each end-to-end sync runs in a process of its own, so that its peak memory is its own. The
end-to-end syncs run twice: with delta pages of 999 users and 999 members@delta entries, and with the caps
Microsoft applies (200 users a page, 500 members@delta entries a page: the figures a Microsoft moderator gave on
Microsoft Q&A), whatever the portal's Prefer: odata.maxpagesize asks.

The chains figures sync the fixed bench tenant (100,003 users, 10,000 groups, 300,000 memberships) at Microsoft's
caps with a latency injected into every simulated request, through real Celery workers (two, each its own
process), and compare the wall time with Graph's latency floor: latency x the longer of the users chain
(ceil(U / 200) delta pages) and the groups chain (ceil(links / 500) members@delta pages), for the design of
concurrent chains and for the sequential one (SYNC_CONCURRENT_CHAINS=0).

    python -m benchmarks.sync            # everything (the chains at 1 s alone take about 15 minutes)
    python -m benchmarks.sync ingest     # the page-writing stage alone
    python -m benchmarks.sync chains --latencies 300 --designs concurrent,sequential
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Django is set up at run time, before the models are imported
    from django.db.backends.utils import CursorWrapper

    from directory.models import SyncRun
    from m365sim.models import Tenant as SimTenant
    from organizations.models import Organization, ProtectedService

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/casportal_bench"
PAGE = 999
# (users a users-delta page, members@delta entries a groups-delta page), as the simulator caps them.
PAGE_CAPS = ((999, 999), (200, 500))
MICROSOFTS_CAPS = PAGE_CAPS[-1]


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casportal.settings")
    import django

    django.setup()


def _say(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


# 1. The ingest stage: the sync's page writers fed with recorded pages, against per-row writes and COPY.


def _user_pages(users: int) -> Iterator:
    from microsoft import graph

    for start in range(0, users, PAGE):
        yield graph.Page(
            items=[
                graph.UserChange(
                    id=str(uuid.UUID(int=n + 1)),
                    user=graph.DirectoryUser(
                        id=str(uuid.UUID(int=n + 1)),
                        user_principal_name=f"user{n}@bench.onmicrosoft.com",
                        display_name=f"User {n}",
                        mail=f"user{n}@bench.com",
                        account_enabled=True,
                        assigned_license_skus=("6fd2c87f-b296-42f0-b197-1e91e994b900",),
                    ),
                )
                for n in range(start, min(start + PAGE, users))
            ]
        )


def _group_pages(groups: int, users: int, members: int) -> Iterator:
    from microsoft import graph

    for start in range(0, groups, PAGE):
        yield graph.Page(
            items=[
                graph.GroupChange(
                    id=str(uuid.UUID(int=10**9 + g)),
                    group=graph.DirectoryGroup(id=str(uuid.UUID(int=10**9 + g)), display_name=f"Group {g}"),
                    members_added=tuple(
                        graph.MemberRef(id=str(uuid.UUID(int=(g * members + m) % users + 1)), kind="user")
                        for m in range(members)
                    ),
                )
                for g in range(start, min(start + PAGE, groups))
            ]
        )


def ingest(users: int, groups: int, members: int, sample: int) -> None:
    _setup_django()
    from django.db import connection, transaction
    from django.utils import timezone

    from directory.models import DirectoryGroup, DirectoryUser, GroupMembership
    from directory.writes import apply_group_page, apply_user_page
    from organizations.models import Organization

    Organization.objects.filter(slug__startswith="bench-ingest").delete()
    with connection.cursor() as cursor:  # no dead rows of an earlier run in the way
        for model in (DirectoryUser, DirectoryGroup, GroupMembership):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
    organization = Organization.objects.create(name="Bench ingest", slug="bench-ingest")
    objects = users + groups + groups * members
    user_pages, group_pages = list(_user_pages(users)), list(_group_pages(groups, users, members))  # "recorded"

    started = time.perf_counter()
    since = timezone.now()  # as the sync does: one transaction a page, each object counted once in its round
    for page in user_pages:
        with transaction.atomic():
            apply_user_page(organization.pk, page, since=since)
    for page in group_pages:
        with transaction.atomic():
            apply_group_page(organization.pk, page, since=since)
    ingest_seconds = time.perf_counter() - started
    del user_pages, group_pages
    assert DirectoryUser.objects.filter(organization=organization).count() == users
    assert GroupMembership.objects.filter(organization=organization).count() == groups * members
    ingest_rate = objects / ingest_seconds

    per_row_organization = Organization.objects.create(name="Bench per-row", slug="bench-ingest-per-row")
    now = timezone.now()
    started = time.perf_counter()
    for page in _user_pages(sample):
        for change in page.items:
            user = change.user
            DirectoryUser.objects.update_or_create(
                organization=per_row_organization,
                microsoft_id=uuid.UUID(user.id),
                defaults={
                    "user_principal_name": user.user_principal_name,
                    "display_name": user.display_name,
                    "mail": user.mail,
                    "account_enabled": True,
                    "is_licensed": True,
                    "synced_at": now,
                },
            )
    per_row_rate = sample / (time.perf_counter() - started)

    # The ceiling: COPY into ordinary tables of the same shape and indexes, written to the WAL as the real ones are
    # (a TEMP table skips the WAL: no durable writer can match it).
    tables = [model._meta.db_table for model in (DirectoryUser, DirectoryGroup, GroupMembership)]
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"DROP TABLE IF EXISTS copy_{table}")
            cursor.execute(f"CREATE TABLE copy_{table} (LIKE {table} INCLUDING ALL)")
        try:
            started = time.perf_counter()
            _copy(cursor, organization.pk, users, groups, members)
            copy_rate = objects / (time.perf_counter() - started)
        finally:
            for table in tables:
                cursor.execute(f"DROP TABLE copy_{table}")

    _say("ingest objects (users + groups + memberships)", f"{objects:,}")
    _say("ingest objects/s (page writers: INSERT ... ON CONFLICT per page)", f"{ingest_rate:,.0f}")
    _say(f"per-row objects/s (update_or_create, {sample:,}-row sample)", f"{per_row_rate:,.0f}")
    _say("COPY objects/s (same shape and indexes: the ceiling)", f"{copy_rate:,.0f}")
    _say("ingest / per-row", f"{ingest_rate / per_row_rate:.1f}x (target >= 50x)")
    _say("ingest / COPY", f"{100 * ingest_rate / copy_rate:.0f}% (target >= 40%)")
    Organization.objects.filter(slug__startswith="bench-ingest").delete()


def _copy(cursor: CursorWrapper, organization_id: int, users: int, groups: int, members: int) -> None:
    from django.utils import timezone

    now = timezone.now().isoformat()
    with cursor.copy(
        "COPY copy_provisioning_directoryuser (tenant_id, microsoft_id, user_principal_name, display_name, mail,"
        " account_enabled, is_licensed, normalized, synced_at) FROM STDIN"
    ) as copy:
        for n in range(users):
            copy.write_row(
                (
                    organization_id,
                    uuid.UUID(int=n + 1),
                    f"user{n}@bench.onmicrosoft.com",
                    f"User {n}",
                    f"user{n}@bench.com",
                    True,
                    True,
                    False,
                    now,
                )
            )
    with cursor.copy(
        "COPY copy_provisioning_directorygroup (tenant_id, microsoft_id, display_name, mail, group_type,"
        " normalized, synced_at) FROM STDIN"
    ) as copy:
        for g in range(groups):
            copy.write_row((organization_id, uuid.UUID(int=10**9 + g), f"Group {g}", "", "security", False, now))
    with cursor.copy(
        "COPY copy_provisioning_groupmembership (tenant_id, group_id, member_id, member_type, synced_at) FROM STDIN"
    ) as copy:
        for g in range(groups):
            for m in range(members):
                copy.write_row(
                    (
                        organization_id,
                        uuid.UUID(int=10**9 + g),
                        uuid.UUID(int=(g * members + m) % users + 1),
                        "user",
                        now,
                    )
                )


# 2 and 3. End to end: the real tasks and Graph client against the simulator in its own process.


def _connect(slug: str, caps: tuple[int, int]) -> tuple[Organization, ProtectedService, SimTenant]:
    """The portal organization bench-<slug>, bound to the simulated tenant <slug>, consented, not yet synced; the
    tenant's delta pages capped at `caps`."""
    from django.utils import timezone

    from connection.models import ServiceAccount
    from m365sim import services as sim
    from m365sim.models import Application
    from m365sim.models import Tenant as SimTenant
    from m365sim.models import User as SimUser
    from organizations import services as organization_services
    from organizations.models import Organization, ProtectedService, ServiceStatus

    sim_tenant = SimTenant.objects.get(slug=slug)
    admin = SimUser.objects.get(user_principal_name=f"admin@{slug}.onmicrosoft.com")
    sim.grant_admin_consent(sim_tenant, Application.objects.get(), user=admin)
    sim.reset_faults(sim_tenant)
    sim.set_faults(sim_tenant, users_delta_page_cap=caps[0], members_delta_page_cap=caps[1])
    Organization.objects.filter(slug=f"bench-{slug}").delete()
    organization = organization_services.create_organization(name=f"Bench {slug}", slug=f"bench-{slug}", actor=None)
    organization.microsoft_tenant_id = sim_tenant.id
    organization.save(update_fields=["microsoft_tenant_id"])
    service = ProtectedService.objects.get(organization=organization, kind="exchange-online")
    ServiceAccount.objects.create(
        organization=organization,
        service=service,
        microsoft_tenant_id=sim_tenant.id,
        authorized_account=admin.user_principal_name,
        authorized_object_id=admin.id,
        granted_at=timezone.now(),
    )
    ProtectedService.objects.filter(pk=service.pk).update(status=ServiceStatus.PROVISIONING)
    return organization, service, sim_tenant


def _run_sync(service: ProtectedService, kind: str, trigger: str) -> tuple[SyncRun, float]:
    from django.db import transaction

    from casportal.celery import app
    from directory.engine import request_sync
    from directory.models import SyncRun

    app.conf.task_always_eager = True  # the tasks run here, one after the other: this process is the worker
    started = time.perf_counter()
    with transaction.atomic():
        run = request_sync(service=service, kind=kind, trigger=trigger, actor=None).run
    seconds = time.perf_counter() - started
    run = SyncRun.objects.get(pk=run.pk)
    assert run.status == "succeeded", run.error_detail or run.error
    return run, seconds


def end_to_end(slug: str, caps: tuple[int, int]) -> None:
    _setup_django()
    from django.conf import settings

    from directory.models import DirectoryUser, GroupMembership, SyncKind, SyncTrigger

    organization, service, _ = _connect(slug, caps)
    run, seconds = _run_sync(service, SyncKind.FULL, SyncTrigger.GRANT)
    users = DirectoryUser.objects.filter(organization=organization).count()
    groups = run.groups_synced
    entries = GroupMembership.objects.filter(organization=organization).count()  # an initial round's members@delta
    users_page, groups_page = min(settings.SYNC_PAGE_SIZE, caps[0]), settings.SYNC_PAGE_SIZE
    # + /organization and the user count; a groups page holds at most groups_page groups and caps[1] entries.
    minimum = math.ceil(users / users_page) + max(math.ceil(groups / groups_page), math.ceil(entries / caps[1])) + 2
    _say("page sizes", f"{users_page} users, {groups_page} groups and {caps[1]} members@delta entries a page")
    _say("users", users)
    _say("groups", groups)
    _say("memberships", entries)
    _say("seconds", f"{seconds:.1f}")
    _say("requests", run.requests)
    _say("pages", run.pages)
    _say("minimum requests", minimum)
    _say("peak RSS MB", f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")


def delta(slug: str, changes: int) -> None:
    _setup_django()
    from directory.models import SyncKind, SyncTrigger
    from m365sim import services as sim
    from m365sim.models import Group as SimGroup
    from m365sim.models import User as SimUser
    from organizations.models import Organization, ProtectedService

    organization = Organization.objects.get(slug=f"bench-{slug}")
    service = ProtectedService.objects.get(organization=organization, kind="exchange-online")
    users = list(SimUser.objects.filter(tenant__slug=slug, deleted_at__isnull=True).order_by("id")[:changes])
    groups = list(SimGroup.objects.filter(tenant__slug=slug, deleted_at__isnull=True).order_by("id")[:10])
    renames, deletions = changes // 2, changes // 5
    for user in users[:renames]:
        sim.update_user(user, display_name=f"{user.display_name} (renamed)")
    for user in users[renames : renames + deletions]:
        sim.delete_user(user)
    for n in range(deletions):
        sim.add_user(users[0].tenant, user_principal_name=f"new{n}@{slug}.onmicrosoft.com", display_name=f"New {n}")
    for user in users[renames + deletions : changes - deletions]:
        sim.add_member(groups[user.id.int % len(groups)], user)
    run, seconds = _run_sync(service, SyncKind.DELTA, SyncTrigger.MANUAL)
    assert run.kind == SyncKind.DELTA
    _say("changes", changes)
    _say("seconds", f"{seconds:.2f}")
    _say("requests", run.requests)


# 4. Chains: the fixed bench tenant against Graph's latency floor, through real workers.

CHAIN_USERS, CHAIN_GROUPS, CHAIN_MEMBERS = 100_000, 10_000, 30  # the simulator adds 3 named users: 100,003
CHAIN_WORKERS = 2
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/7"  # a database no test, script or other bench uses
DESIGNS = {"concurrent": "1", "sequential": "0"}  # SYNC_CONCURRENT_CHAINS
TARGET_LATENCY_MS = 300  # the latency the targets are set at


def _floor_pages(users: int, memberships: int) -> tuple[int, int]:
    """The pages on each chain's critical path at Microsoft's caps: users delta, then members@delta."""
    return math.ceil(users / MICROSOFTS_CAPS[0]), math.ceil(memberships / MICROSOFTS_CAPS[1])


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def chains_run(slug: str, latency_ms: int, design: str) -> None:
    """One full sync of the tenant through CHAIN_WORKERS workers; prints wall time, requests, peak RSS."""
    _setup_django()
    from django.db import connections, transaction

    from casportal.celery import app
    from directory.engine import request_sync
    from directory.models import DirectoryUser, GroupMembership, SyncKind, SyncRun, SyncTrigger
    from m365sim import services as sim

    organization, service, sim_tenant = _connect(slug, MICROSOFTS_CAPS)
    sim.set_faults(sim_tenant, latency_ms=latency_ms)
    env = {**os.environ, "SYNC_CONCURRENT_CHAINS": DESIGNS[design]}
    command = [sys.executable, "-m", "celery", "-A", "casportal", "worker", "--pool", "solo", "-Q", "sync"]
    workers = [
        subprocess.Popen(
            [*command, "-n", f"bench{n}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,  # their warnings go to stderr, which the parent shows if this run fails
        )
        for n in range(CHAIN_WORKERS)
    ]
    try:
        names = [f"bench{n}@{socket.gethostname()}" for n in range(CHAIN_WORKERS)]
        deadline = time.monotonic() + 60
        while len(app.control.ping(destination=names, timeout=1)) < CHAIN_WORKERS:
            if time.monotonic() > deadline:
                sys.exit("the bench's workers did not start")
        connections.close_all()
        started = time.perf_counter()
        with transaction.atomic():
            run = request_sync(service=service, kind=SyncKind.FULL, trigger=SyncTrigger.GRANT, actor=None).run
        while (status := SyncRun.objects.values_list("status", flat=True).get(pk=run.pk)) in ("queued", "running"):
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        load = os.getloadavg()[0]  # other processes on this machine slow the simulator and PostgreSQL down
        peak = max(_peak_rss_mb(worker.pid) for worker in workers)
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=30)
    run = SyncRun.objects.get(pk=run.pk)
    assert status == "succeeded", run.error_detail or run.error
    _say("users", DirectoryUser.objects.filter(organization=organization).count())
    _say("memberships", GroupMembership.objects.filter(organization=organization).count())
    _say("seconds", f"{seconds:.1f}")
    _say("requests", run.requests)
    _say("peak RSS MB", f"{peak:.0f}")
    _say("load average", f"{load:.1f}")


def _seed(env: dict[str, str], slug: str, users: int, groups: int) -> None:
    _manage(
        env,
        "m365sim_seed",
        "--tenant",
        slug,
        "--users",
        str(users),
        "--groups",
        str(groups),
        "--members-per-group",
        str(CHAIN_MEMBERS),
        "--no-propagation",  # measured syncs start at once: no consent propagation to wait out
    )


def _environment(database: str, simulator_database: str, port: int) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "casportal.settings",
        "DATABASE_URL": database,
        "M365SIM_DATABASE_URL": simulator_database,
        "MICROSOFT_SIMULATOR_URL": f"http://127.0.0.1:{port}",
        "LOG_LEVEL": "WARNING",
        "DEBUG": "0",  # as in production: no query log in the measured processes
    }
    env.pop("REDIS_URL", None)
    return env


def _serve_simulator(env: dict[str, str], port: int) -> subprocess.Popen:
    simulator = subprocess.Popen(
        [sys.executable, "manage.py", "m365sim_serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    return simulator


def chains(env: dict[str, str], latencies: list[int], designs: list[str], large: int, small: int) -> None:
    """The chains figures; the simulator is serving and its tenants are seeded (`bench-chains<size>`)."""
    import redis

    broker = os.environ.get("BENCH_BROKER_URL") or DEFAULT_BROKER_URL
    env = {**env, "CELERY_BROKER_URL": broker}
    redis.Redis.from_url(broker).flushdb()  # the bench's own Redis database: no message of an earlier run
    results: dict[tuple[int, str], dict[str, str]] = {}
    for latency in latencies:
        for design in designs:
            figures = _child(
                env, "chains-run", "--tenant", f"chains{large}", "--latency", str(latency), "--design", design
            )
            results[latency, design] = figures
            users, links = int(figures["users"]), int(figures["memberships"])
            users_chain, groups_chain = _floor_pages(users, links)
            floor = latency / 1000 * max(users_chain, groups_chain)
            name = f"chains: full sync of {users:,} users, {links:,} memberships at {latency} ms, {design}"
            _say(f"{name}: seconds", figures["seconds"])
            _say(f"{name}: requests", figures["requests"])
            _say(f"{name}: peak RSS MB", figures["peak RSS MB"])
            _say(f"{name}: load average (1 min) at its end", f"{figures['load average']} on {os.cpu_count()} cores")
            if floor:
                target = " (target <= 1.3x)" if latency == TARGET_LATENCY_MS else ""
                _say(
                    f"{name}: floor (users chain {users_chain}, groups chain {groups_chain} pages)",
                    f"{floor:.1f} s; wall / floor {float(figures['seconds']) / floor:.2f}x{target}",
                )
        if {"concurrent", "sequential"} <= set(designs):
            ratio = float(results[latency, "concurrent"]["seconds"]) / float(results[latency, "sequential"]["seconds"])
            target = " (target <= 0.6x)" if latency == TARGET_LATENCY_MS else ""
            _say(f"chains at {latency} ms: concurrent / sequential", f"{ratio:.2f}x{target}")
    if small:
        first = "concurrent" if "concurrent" in designs else designs[0]
        figures = _child(env, "chains-run", "--tenant", f"chains{small}", "--latency", "0", "--design", first)
        rss_small, rss_large = float(figures["peak RSS MB"]), float(results[latencies[0], first]["peak RSS MB"])
        _say(f"chains: peak RSS MB at {int(figures['users']):,} users, 0 ms, {first}", figures["peak RSS MB"])
        _say(
            f"chains: peak RSS at {large:,} / {small:,} users ({latencies[0]} ms / 0 ms)",
            f"{rss_large / rss_small:.2f}x (target <= 1.5x, and < 200 MB at 100,000)",
        )


def chains_alone(latencies: list[int], designs: list[str], large: int, small: int) -> None:
    database, simulator_database = _database_urls()
    for url in (database, simulator_database):
        _recreate_database(url)
    port = _free_port()
    env = _environment(database, simulator_database, port)
    _say("database", database.rsplit("@", 1)[-1])
    _manage(env, "migrate", "--noinput")
    _manage(env, "migrate", "--database", "m365sim", "--noinput")
    for size in (large, small) if small else (large,):
        _seed(env, f"chains{size}", size, size // 10)
    simulator = _serve_simulator(env, port)
    try:
        chains(env, latencies, designs, large, small)
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)


# The orchestration: databases, the simulator's process, one process per measurement.


def _database_urls() -> tuple[str, str]:
    url = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL
    if not url.startswith("postgres"):
        sys.exit("The benchmarks run on PostgreSQL: set BENCH_DATABASE_URL=postgres://...")
    return url, url + "_m365sim"


def _recreate_database(url: str) -> None:
    """Every run starts from empty databases: the simulator's tenants keep the changes a delta run made."""
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _child(env: dict[str, str], *args: str) -> dict[str, str]:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.sync", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        sys.exit(f"benchmarks.sync {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    figures = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    return figures


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True)


def everything(small: int, large: int, changes: int) -> None:
    database, simulator_database = _database_urls()
    for url in (database, simulator_database):
        _recreate_database(url)
    port = _free_port()
    env = _environment(database, simulator_database, port)
    _say("database", database.rsplit("@", 1)[-1])
    _manage(env, "migrate", "--noinput")
    _manage(env, "migrate", "--database", "m365sim", "--noinput")

    for line in _child(env, "ingest").items():
        _say(*line)

    for size in (small, large):
        _seed(env, f"bench{size}", size, size // 10)
    _seed(env, f"chains{CHAIN_USERS}", CHAIN_USERS, CHAIN_GROUPS)
    simulator = _serve_simulator(env, port)
    try:
        results = {}
        for caps in PAGE_CAPS:
            for size in (small, large):
                figures = _child(env, "e2e", "--tenant", f"bench{size}", "--caps", f"{caps[0]},{caps[1]}")
                results[caps, size] = figures
                _report_full_sync(caps, figures)
        rss_small, rss_large = (float(results[MICROSOFTS_CAPS, size]["peak RSS MB"]) for size in (small, large))
        _say("peak RSS large / small", f"{rss_large / rss_small:.2f}x (target <= 1.5x, and < 200 MB at 100,000)")
        for size in (small, large):
            requests = [int(results[caps, size]["requests"]) for caps in PAGE_CAPS]
            users = int(results[MICROSOFTS_CAPS, size]["users"])
            _say(
                f"full sync of {users:,} users: requests at 200/500 / at 999/999",
                f"{requests[-1]} / {requests[0]} ({requests[-1] / requests[0]:.1f}x)",
            )
        # After the last full sync: the large tenant at Microsoft's caps.
        figures = _child(env, "delta", "--tenant", f"bench{large}", "--changes", str(changes))
        full_seconds = float(results[MICROSOFTS_CAPS, large]["seconds"])
        _say(f"delta sync of {changes} changes: seconds", figures["seconds"])
        _say(f"delta sync of {changes} changes: requests", figures["requests"])
        _say("delta / full time", f"{100 * float(figures['seconds']) / full_seconds:.2f}% (target < 2%)")
        # The small tenant of the figures above measures the chains' memory at 10,000 users.
        _seed(env, f"chains{small}", small, small // 10)
        chains(env, [0, 300, 1000], list(DESIGNS), CHAIN_USERS, small)
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)


def _report_full_sync(caps: tuple[int, int], figures: dict[str, str]) -> None:
    name = f"full sync of {int(figures['users']):,} users at {caps[0]}/{caps[1]}"
    _say(f"{name}: page sizes", figures["page sizes"])
    _say(f"{name}: groups / memberships", f"{int(figures['groups']):,} / {int(figures['memberships']):,}")
    _say(f"{name}: seconds", figures["seconds"])
    _say(
        f"{name}: requests / minimum",
        f"{figures['requests']} / {figures['minimum requests']} "
        f"(+{100 * (int(figures['requests']) / int(figures['minimum requests']) - 1):.1f}%, target <= 5%)",
    )
    _say(f"{name}: peak RSS MB", figures["peak RSS MB"])


def _caps(value: str) -> tuple[int, int]:
    users, members = value.split(",")
    return int(users), int(members)


def _numbers(value: str) -> list[int]:
    return [int(part) for part in value.split(",")]


def _designs(value: str) -> list[str]:
    designs = value.split(",")
    if not set(designs) <= set(DESIGNS):
        raise argparse.ArgumentTypeError(f"designs are {', '.join(DESIGNS)}")
    return designs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command")
    run_all = commands.add_parser("all")
    run_all.add_argument("--small", type=int, default=10_000)
    run_all.add_argument("--large", type=int, default=100_000)
    run_all.add_argument("--changes", type=int, default=500)
    ingest_args = commands.add_parser("ingest")
    ingest_args.add_argument("--users", type=int, default=100_000)
    ingest_args.add_argument("--groups", type=int, default=10_000)
    ingest_args.add_argument("--members", type=int, default=30)
    ingest_args.add_argument("--sample", type=int, default=2_000)
    e2e_args = commands.add_parser("e2e")
    e2e_args.add_argument("--tenant", required=True)
    e2e_args.add_argument("--caps", type=_caps, default=MICROSOFTS_CAPS, help="users,members@delta a page")
    chains_args = commands.add_parser("chains")
    chains_args.add_argument("--latencies", type=_numbers, default=[0, 300, 1000], help="ms, e.g. 0,300,1000")
    chains_args.add_argument("--designs", type=_designs, default=list(DESIGNS), help="concurrent,sequential")
    chains_args.add_argument("--users", type=int, default=CHAIN_USERS, help="the large tenant (groups: a tenth)")
    chains_args.add_argument("--small", type=int, default=10_000, help="for the memory ratio; 0: none")
    chains_run_args = commands.add_parser("chains-run")
    chains_run_args.add_argument("--tenant", required=True)
    chains_run_args.add_argument("--latency", type=int, required=True)
    chains_run_args.add_argument("--design", choices=list(DESIGNS), required=True)
    delta_args = commands.add_parser("delta")
    delta_args.add_argument("--tenant", required=True)
    delta_args.add_argument("--changes", type=int, default=500)
    args = parser.parse_args()
    if args.command == "ingest":
        ingest(args.users, args.groups, args.members, args.sample)
    elif args.command == "e2e":
        end_to_end(args.tenant, args.caps)
    elif args.command == "delta":
        delta(args.tenant, args.changes)
    elif args.command == "chains":
        chains_alone(args.latencies, args.designs, args.users, args.small)
    elif args.command == "chains-run":
        chains_run(args.tenant, args.latency, args.design)
    else:
        everything(getattr(args, "small", 10_000), getattr(args, "large", 100_000), getattr(args, "changes", 500))


if __name__ == "__main__":
    main()
