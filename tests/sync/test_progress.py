"""The progress page tells what the run is and what it does: a bar per phase with counts and the total where
Microsoft gives one ("so far" where it does not), an estimate of the time left that waits until it is stable and
never reads zero while work remains, the reason when Microsoft makes it wait, and, at the end, what it changed."""

import re
from datetime import timedelta

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from directory import progress
from directory.models import SyncKind, SyncRun, SyncStatus, SyncStep, SyncTrigger
from m365sim import services as sim
from m365sim.models import Membership as SimMembership
from m365sim.models import User as SimUser

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def run_page(client, run: SyncRun) -> str:
    response = client.get(reverse("sync_run_progress", args=[run.organization.slug, run.public_id]))
    assert response.status_code == 200
    return response.content.decode()


def sync_now(driver, cast) -> SyncRun:
    response = driver.portal("post", reverse("sync_now", args=[cast.organization.slug]))
    run = SyncRun.objects.filter(organization=cast.organization).order_by("-queued_at").first()
    assert run is not None
    assert response["Location"] == reverse("sync_run_progress", args=[cast.organization.slug, run.public_id])
    return run


def test_sync_now_leads_to_its_runs_live_progress_headed_by_what_it_is(protected, driver):
    run = sync_now(driver, protected)
    page = run_page(driver.client, run)
    assert "Synchronization started." in page
    assert '<h1 class="h3 mb-3">Sync now: synchronizing the directory</h1>' in page
    assert 'aria-current="page">Directory synchronization</li>' in page
    assert "creating the service account" not in page
    assert 'hx-trigger="every 2s"' in page  # it polls while the run is under way
    assert "Queued at" in page


def test_a_delta_sync_that_changed_nothing_says_so(protected, driver):
    run = sync_now(driver, protected)
    driver.tasks.run()
    page = text(run_page(driver.client, run))
    assert "Synchronization finished. No changes since the last sync." in page
    assert "Delta: only what changed in Microsoft 365 since the last sync." in page
    assert "synchronized 0" not in page


def test_a_delta_sync_says_what_it_changed(protected, driver, contoso):
    sim.add_user(contoso, user_principal_name="new.hire@contoso.onmicrosoft.com", display_name="New Hire")
    run = sync_now(driver, protected)
    driver.tasks.run()
    assert "Since the last sync: 1 user added or updated." in text(run_page(driver.client, run))


def test_the_first_sync_counts_what_it_read_with_the_totals_microsoft_gave(protected, driver, contoso):
    run = SyncRun.objects.get(organization=protected.organization)
    page = run_page(driver.client, run)
    users = SimUser.objects.filter(tenant=contoso, deleted_at__isnull=True).count()
    memberships = SimMembership.objects.filter(group__tenant=contoso, removed=False).count()
    assert f"{users} users and {run.groups_synced} groups synchronized: {run.added} new." in text(page)
    assert f"{users} of {users}" in text(page)  # users/$count gave the total
    assert run.memberships_synced == memberships
    assert f"Memberships synchronized {memberships}" in text(page)
    # The first grant's own steps: the account, and the policy step skipped, not "Done", when none was chosen.
    assert "Service account created" in page
    assert "No policy chosen" in text(page)
    assert "Skipped" in page


def running(cast, **fields) -> SyncRun:
    values = {
        "kind": SyncKind.FULL,
        "trigger": SyncTrigger.MANUAL,
        "status": SyncStatus.RUNNING,
        "step": SyncStep.USERS,
        "started_at": timezone.now() - timedelta(seconds=90),
        "round_started_at": timezone.now() - timedelta(seconds=60),
        **fields,
    }
    return SyncRun.objects.create(organization=cast.organization, **values)


def test_a_phase_with_a_total_has_a_bar_and_an_estimate_once_stable(cast, owner_client):
    run = running(cast, users_total=300, users_synced=150)
    page = run_page(owner_client, run)
    assert '<progress class="sync-bar" max="100" value="50"' in page
    assert "150 of 300 · about 1 min left" in text(page)


def test_no_estimate_before_the_pace_means_something(cast, owner_client):
    run = running(cast, users_total=10_000, users_synced=120)  # 1.2 %: one page more or less would swing it
    page = text(run_page(owner_client, run))
    assert "120 of 10,000" in page
    assert "left" not in page


def test_without_a_total_the_count_says_so_far_and_the_bar_is_indeterminate(cast, owner_client):
    run = running(cast, kind=SyncKind.DELTA, users_synced=42)
    page = run_page(owner_client, run)
    assert "42 so far" in text(page)
    assert "Microsoft gives no total here" in page
    assert re.search(r'<progress class="sync-bar" aria-labelledby="phase-1"', page)


def test_groups_show_their_total_when_it_is_known(cast, owner_client):
    run = running(cast, kind=SyncKind.CERTAIN_USERS, step=SyncStep.GROUPS, groups_total=4, groups_synced=3)
    assert "Groups synchronized 3 of 4" in text(run_page(owner_client, run))


def test_the_estimate_follows_the_average_pace_and_never_reads_zero_while_work_remains():
    start = timezone.now()
    run = SyncRun(kind=SyncKind.FULL, step=SyncStep.USERS, users_total=1000, round_started_at=start)
    estimates = []
    for seconds in range(10, 200, 10):  # 5 users a second, polled every 10 s
        run.users_synced = min(1000, 5 * seconds)
        estimate = progress.users_remaining(run, start + timedelta(seconds=seconds))
        if estimate is not None:
            estimates.append(estimate.total_seconds())
    assert estimates == sorted(estimates, reverse=True)  # it only goes down at a steady pace
    assert estimates[-1] > 0
    assert progress.about(timedelta(seconds=0.3)) == "about 10 s"
    run.users_synced = 1000
    assert progress.users_remaining(run, start + timedelta(seconds=200)) is None  # all read: no estimate at all


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (44, "about 40 s"),
        (95, "about 1 min 30 s"),
        (119, "about 2 min"),
        (559, "about 9 min 30 s"),
        (3725, "about 1 h 02 min"),
    ],
)
def test_estimates_are_rounded_as_a_person_says_them(seconds, said):
    assert progress.about(timedelta(seconds=seconds)) == said


def test_when_microsoft_throttles_the_page_says_how_long_it_asked_to_wait_and_when_it_resumes(
    protected, driver, contoso
):
    run = sync_now(driver, protected)
    sim.set_faults(contoso, throttle_next=1, throttle_retry_after=30)
    queued, task = driver.tasks.pending.pop(0)
    task.apply(args=queued.args, throw=True)
    ((again, _),) = driver.tasks.pending
    assert again.countdown >= 30
    page = text(run_page(driver.client, run))
    resumes = (timezone.now() + timedelta(seconds=again.countdown)).strftime("%H:%M")
    assert "Waiting. Microsoft asked us to wait 30 s" in page
    assert f"Resuming at {resumes}" in page


def test_a_heading_for_each_kind_of_run():
    for trigger, said in [
        (SyncTrigger.GRANT, "Exchange Online: creating the service account and synchronizing"),
        (SyncTrigger.RECREATE, "Exchange Online: access token recreated, synchronizing again"),
        (SyncTrigger.MANUAL, "Sync now: synchronizing the directory"),
        (SyncTrigger.SCHEDULED, "Daily synchronization of the directory"),
        (SyncTrigger.EXTEND, "Extend to all users: synchronizing all users and groups"),
        (SyncTrigger.LIST_EDIT, "Synchronizing the changed list of chosen users"),
    ]:
        assert progress.heading(SyncRun(trigger=trigger), "Exchange Online") == said


def test_the_running_sync_include_shows_the_phase_and_links_to_the_runs_progress(cast):
    run = running(cast, users_total=300, users_synced=150)
    html = Template("{% load directory_tags %}{% running_sync run %}").render(
        Context({"run": run, "current_organization": cast.organization})
    )
    assert "Sync now: synchronizing the directory" in html
    assert "Users synchronized: 150 of 300 · about 1 min left" in text(html)
    assert reverse("sync_run_progress", args=[cast.organization.slug, run.public_id]) in html
    assert Template("{% load directory_tags %}{% running_sync None %}").render(Context({})).strip() == ""
