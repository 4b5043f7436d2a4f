"""`make bench` (coverage part): how many requests and how long the coverage verification takes, against floors.

The simulator runs in its own process with an injected latency per request (a batch pays it once), and each
verification runs in a process of its own, so that its peak memory is its own. Printed, in one run:
- the mailboxes of a 100,000-user tenant: batches sent against the minimum (one request per mailbox, 20 to a
  batch), wall time against the floor: the latency times the rounds of COVERAGE_CONCURRENT_BATCHES batches, and
  never under Graph's global limit (130,000 requests per 10 seconds per app); Outlook's limits (4 concurrent
  requests and 10,000 per 10 minutes, per app and mailbox) do not bind, as each request reaches another mailbox;
- the OneDrives of a smaller tenant (a 100,000-drive run takes over half an hour): wall time against SharePoint's
  resource-unit budget of the application in the tenant (1 unit a drive), which verification keeps to
  COVERAGE_SHAREPOINT_BUDGET_PERCENT of; and the 100,000-drive floor by the same formula;
- re-verification after a delta of 500 changed users: its batches against the full verification's.

    python -m benchmarks.coverage                      # all of it (about 15 minutes at 300 ms)
    python -m benchmarks.coverage --users 10000 --drive-users 1000 --latency 300
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import time
from typing import TYPE_CHECKING

from benchmarks.sync import (
    _connect,
    _environment,
    _free_port,
    _manage,
    _recreate_database,
    _say,
    _serve_simulator,
    _setup_django,
)

if TYPE_CHECKING:  # Django is set up at run time, before the models are imported
    from m365sim.models import Tenant as SimTenant
    from organizations.models import ProtectedService

GLOBAL_REQUESTS_PER_SECOND = 130_000 / 10  # Graph, per app across all tenants
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/casportal_bench_coverage"
ROWS_A_WRITE = 5000


def _granted(slug: str, kind: str) -> tuple[ProtectedService, SimTenant]:
    """The organization bound to the simulated tenant, its service `kind` granted, the directory as a sync leaves it."""
    from django.utils import timezone

    from connection.models import ServiceAccount
    from directory.models import DirectoryUser
    from m365sim.models import User as SimUser
    from organizations.models import ProtectedService, ServiceStatus

    organization, exchange, sim_tenant = _connect(slug, (200, 500))
    service = ProtectedService.objects.get(organization=organization, kind=kind)
    if service != exchange:
        account = ServiceAccount.objects.get(service=exchange)
        account.pk, account.service = None, service
        account.save()
    ProtectedService.objects.filter(organization=organization).update(status=ServiceStatus.PROTECTED)
    now = timezone.now()
    rows = SimUser.objects.filter(tenant=sim_tenant, hard_deleted=False).values_list(
        "id", "user_principal_name", "display_name", "account_enabled", "assigned_licenses"
    )
    batch = []
    for uid, upn, name, enabled, licences in rows.iterator(chunk_size=ROWS_A_WRITE):
        batch.append(
            DirectoryUser(
                organization=organization,
                microsoft_id=uid,
                user_principal_name=upn,
                display_name=name,
                account_enabled=enabled,
                is_licensed=bool(licences),
                synced_at=now,
            )
        )
        if len(batch) == ROWS_A_WRITE:
            DirectoryUser.objects.bulk_create(batch)
            batch = []
    DirectoryUser.objects.bulk_create(batch)
    return service, sim_tenant


def _verify(service: ProtectedService, *, probe: bool) -> tuple[float, int]:
    """Run one verification's tasks one after another in this process; (seconds, batches sent)."""
    from coverage import verify
    from m365sim.models import RequestCount

    batches_before = sum(RequestCount.objects.filter(endpoint="$batch").values_list("count", flat=True))
    began = time.monotonic()
    fence = verify.start_verification(service, probe=probe)
    assert fence is not None
    while (countdown := verify.run_step(service.pk, fence)) is not None:
        time.sleep(countdown)
    seconds = time.monotonic() - began
    batches = sum(RequestCount.objects.filter(endpoint="$batch").values_list("count", flat=True)) - batches_before
    return seconds, batches


def run(slug: str, kind: str, latency_ms: int, changes: int) -> None:
    """One measured verification (and, for mailboxes, the re-verification after `changes` changed users)."""
    _setup_django()
    from django.conf import settings
    from django.utils import timezone

    from coverage.models import ServiceCoverage
    from directory.models import DirectoryUser
    from m365sim import services as sim

    service, sim_tenant = _granted(slug, kind)
    sim.set_faults(sim_tenant, latency_ms=latency_ms)
    seconds, batches = _verify(service, probe=True)
    summary = ServiceCoverage.objects.get(service=service)
    _say("in scope", summary.in_scope)
    _say("covered", summary.covered)
    _say("seconds", f"{seconds:.1f}")
    _say("batches", batches)
    _say("licensed", DirectoryUser.objects.filter(organization=service.organization, is_licensed=True).count())
    _say("concurrent batches", settings.COVERAGE_CONCURRENT_BATCHES)
    if changes:
        changed = DirectoryUser.objects.filter(organization=service.organization).order_by("pk")[:changes]
        DirectoryUser.objects.filter(pk__in=changed.values("pk")).update(synced_at=timezone.now())
        delta_seconds, delta_batches = _verify(service, probe=False)
        _say("delta seconds", f"{delta_seconds:.1f}")
        _say("delta batches", delta_batches)
    _say("peak RSS MB", f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")


def _child(env: dict[str, str], *args: str) -> dict[str, str]:
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.coverage", *args], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode:
        sys.exit(f"benchmarks.coverage {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)


def sharepoint_floor_seconds(drives: int, licensed: int) -> float:
    from coverage.verify import SHAREPOINT_APP_UNITS_PER_MINUTE

    per_minute = next(units for licences, units in SHAREPOINT_APP_UNITS_PER_MINUTE if licensed <= licences)
    return drives / per_minute * 60


def everything(users: int, drive_users: int, latency_ms: int, changes: int) -> None:
    _setup_django()
    from django.conf import settings

    database = os.environ.get("BENCH_COVERAGE_DATABASE_URL") or DEFAULT_DATABASE_URL
    simulator_database = database + "_m365sim"
    for url in (database, simulator_database):
        _recreate_database(url)
    port = _free_port()
    env = _environment(database, simulator_database, port)
    _manage(env, "migrate", "--noinput")
    _manage(env, "migrate", "--database", "m365sim", "--noinput")
    for slug, size in ((f"mail{users}", users), (f"drive{drive_users}", drive_users)):
        _manage(env, "m365sim_seed", "--tenant", slug, "--users", str(size), "--groups", "10", "--no-propagation")
    simulator = _serve_simulator(env, port)
    try:
        mail = _child(
            env,
            "run",
            "--tenant",
            f"mail{users}",
            "--kind",
            "exchange-online",
            "--latency",
            str(latency_ms),
            "--changes",
            str(changes),
        )
        drives = _child(
            env,
            "run",
            "--tenant",
            f"drive{drive_users}",
            "--kind",
            "onedrive",
            "--latency",
            str(latency_ms),
            "--changes",
            "0",
        )
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)

    in_scope, batches, seconds = int(mail["in scope"]), int(mail["batches"]), float(mail["seconds"])
    concurrency = int(mail["concurrent batches"])
    minimum = math.ceil(in_scope / 20)
    floor = max(latency_ms / 1000 * math.ceil(minimum / concurrency), in_scope / GLOBAL_REQUESTS_PER_SECOND)
    name = f"coverage: {in_scope:,} mailboxes at {latency_ms} ms"
    _say(f"{name}: covered", f"{int(mail['covered']):,}")
    _say(f"{name}: batches", f"{batches:,} (minimum {minimum:,}: {batches / minimum:.2f}x)")
    _say(
        f"{name}: seconds",
        f"{seconds:.1f} (floor {floor:.1f} s: {latency_ms} ms x {math.ceil(minimum / concurrency):,} rounds of "
        f"{concurrency} batches; wall / floor {seconds / floor:.2f}x)",
    )
    _say(f"{name}: peak RSS MB", mail["peak RSS MB"])
    delta_batches = int(mail["delta batches"])
    _say(
        f"coverage: re-verification after {changes} changed users",
        f"{delta_batches} batches in {mail['delta seconds']} s (minimum {math.ceil(changes / 20)}; "
        f"{delta_batches / batches:.2%} of the full verification's batches)",
    )
    drive_scope, drive_seconds = int(drives["in scope"]), float(drives["seconds"])
    drive_floor = sharepoint_floor_seconds(drive_scope, int(drives["licensed"]))
    share = settings.COVERAGE_SHAREPOINT_BUDGET_PERCENT
    name = f"coverage: {drive_scope:,} OneDrives at {latency_ms} ms"
    _say(f"{name}: batches", f"{int(drives['batches']):,} (minimum {math.ceil(drive_scope / 20):,})")
    _say(
        f"{name}: seconds",
        f"{drive_seconds:.1f} (SharePoint budget floor {drive_floor:.1f} s at 1 unit a drive; verification keeps to "
        f"{share} % of it, so {drive_floor * 100 / share:.1f} s; wall / floor {drive_seconds / drive_floor:.2f}x)",
    )
    _say(f"{name}: peak RSS MB", drives["peak RSS MB"])
    _say(
        "coverage: 100,000 OneDrives, SharePoint budget floor",
        f"{sharepoint_floor_seconds(100_000, 100_000) / 60:.0f} min (6,250 units a minute above 50,000 licences); "
        f"{sharepoint_floor_seconds(100_000, 100_000) * 100 / share / 60:.0f} min at {share} %",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command")
    run_args = commands.add_parser("run")
    run_args.add_argument("--tenant", required=True)
    run_args.add_argument("--kind", required=True)
    run_args.add_argument("--latency", type=int, required=True)
    run_args.add_argument("--changes", type=int, default=0)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--drive-users", type=int, default=2_000)
    parser.add_argument("--latency", type=int, default=300, help="ms a request")
    parser.add_argument("--changes", type=int, default=500)
    args = parser.parse_args()
    if args.command == "run":
        run(args.tenant, args.kind, args.latency, args.changes)
    else:
        everything(args.users, args.drive_users, args.latency, args.changes)


if __name__ == "__main__":
    main()
