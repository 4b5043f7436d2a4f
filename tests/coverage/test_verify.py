"""Coverage verification through the real flow: a grant and its sync, then the verification's own tasks, with
MSAL and Graph (JSON batches) talking HTTP to the simulator, whose mailboxes, OneDrives, sites, teams and
application access policies are set through its control API."""

import datetime as dt
import itertools
import re
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import Action, AuditEvent
from coverage import verify
from coverage.models import CoverageState, ObjectCoverage, ServiceCoverage
from coverage.services import NOT_CHECKED_YET
from directory import runs
from directory.models import DirectoryUser
from m365sim.models import Group as SimGroup
from m365sim.models import Site
from m365sim.models import User as SimUser
from organizations.models import ProtectedService

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])

TENANT = "contoso"
VERIFY_STEP = "coverage.verify_step"


def granted(driver, cast, kind: str = "exchange-online", *, verified_yet: bool = True) -> ProtectedService:
    """The service granted and synchronized; the verification the sync starts runs too, unless not `verified_yet`
    (then it stays queued, as if no worker had taken it yet)."""
    driver.grant(kind)
    driver.tasks.run(hold=() if verified_yet else (VERIFY_STEP,))
    return ProtectedService.objects.get(organization=cast.organization, kind=kind)


def verified(driver, service: ProtectedService, *, probe: bool = True) -> ServiceCoverage:
    """A verification started and carried out by its tasks, as the dispatcher would start it (`probe`: the hourly
    one, which also checks the rotation's slot)."""
    with driver.capture(execute=True):
        assert verify.start_verification(service, probe=probe) is not None
    driver.tasks.run()
    return ServiceCoverage.objects.get(service=service)


def states(service: ProtectedService) -> dict[str, str]:
    return dict(ObjectCoverage.objects.filter(service=service).values_list("name", "state"))


def licensed_upns() -> list[str]:
    return sorted(
        SimUser.objects.filter(tenant__slug=TENANT, account_enabled=True)
        .exclude(assigned_licenses=[])
        .values_list("user_principal_name", flat=True)
    )


def test_every_mailbox_in_scope_is_checked_and_each_state_has_microsofts_reason(cast, driver, m365sim):
    upns = licensed_upns()
    reachable, gone, on_premises = upns[0], upns[1], upns[2]
    for upn in upns:
        m365sim.set_mailbox(TENANT, upn, "provisioned")
    m365sim.set_mailbox(TENANT, gone, "none")
    m365sim.set_mailbox(TENANT, on_premises, "on_premises")
    service = granted(driver, cast)

    summary = verified(driver, service)

    in_scope = DirectoryUser.objects.filter(organization=cast.organization, account_enabled=True)
    assert summary.in_scope == in_scope.count()
    found = states(service)
    assert set(found) == set(in_scope.values_list("user_principal_name", flat=True))
    assert found[reachable] == CoverageState.COVERED
    assert found[gone] == found[on_premises] == CoverageState.NO_MAILBOX
    refused = ObjectCoverage.objects.get(service=service, name=gone)
    assert refused.detail.startswith("MailboxNotEnabledForRESTAPI")
    assert summary.covered == sum(1 for state in found.values() if state == CoverageState.COVERED)
    assert summary.counts[CoverageState.NO_MAILBOX] >= 2
    assert NOT_CHECKED_YET not in summary.counts
    event = AuditEvent.objects.get(action=Action.COVERAGE_CHANGED, organization=cast.organization)
    assert (event.details["covered"], event.details["in_scope"]) == (summary.covered, summary.in_scope)


def test_onedrive_covers_the_provisioned_drives_only(cast, driver, m365sim):
    upns = licensed_upns()
    for upn in upns:
        m365sim.set_drive(TENANT, upn, "provisioned")
    m365sim.set_drive(TENANT, upns[0], "not_provisioned")
    service = granted(driver, cast, "onedrive")

    verified(driver, service)

    found = states(service)
    assert found[upns[0]] == CoverageState.NO_DRIVE
    assert all(found[upn] == CoverageState.COVERED for upn in upns[1:])


def test_an_access_policy_applied_drops_coverage_warns_once_and_lifting_it_restores(
    cast, driver, m365sim, mailoutbox, settings
):
    upns = licensed_upns()
    for upn in upns:
        m365sim.set_mailbox(TENANT, upn, "provisioned")
    service = granted(driver, cast)
    first = verified(driver, service)
    assert first.covered == len([u for u in upns if u in states(service)])
    scope = m365sim.directory(TENANT, "add_group", display_name="Scanned mailboxes", mail_enabled=True)
    m365sim.directory(TENANT, "add_member", group=scope["id"], user=upns[0])
    policy = m365sim.apply_access_policy(TENANT, scope["id"], "RestrictAccess")

    # Every covered mailbox is checked again within the rotation's 24 slots (the hourly verifications of a day).
    settings.COVERAGE_UNCOVERED_RECHECK_SECONDS = 0
    for _ in range(24):
        verified(driver, service)
    dropped = ServiceCoverage.objects.get(service=service)
    assert dropped.covered == 1
    assert dropped.dropped
    assert states(service)[upns[1]] == CoverageState.POLICY_REFUSED
    assert "ErrorAccessDenied" in ObjectCoverage.objects.get(service=service, name=upns[1]).detail
    # Activity tells each change, newest first: together they lead from the first verification's count to 1.
    activity = driver.portal("get", reverse("activity", args=[cast.organization.slug])).content.decode()
    changes = [
        tuple(map(int, found)) for found in re.findall(r">(\d+) of (\d+) covered \(before: (\d+) of (\d+)\)", activity)
    ]
    assert changes[0][0] == 1
    assert all(newer[2] == older[0] for newer, older in itertools.pairwise(changes))
    assert changes[-1][2] == first.covered
    warned = [mail for mail in mailoutbox if "coverage" in mail.subject]
    assert len(warned) == 1, "one email per drop"
    assert "application access policy" in warned[0].body

    m365sim.lift_access_policy(TENANT, policy["id"])
    for _ in range(24):
        verified(driver, service)
    restored = ServiceCoverage.objects.get(service=service)
    assert restored.covered == first.covered
    assert not restored.dropped
    assert len([mail for mail in mailoutbox if "coverage" in mail.subject]) == 1


def test_a_batch_with_throttled_requests_completes_exactly(cast, driver, m365sim):
    upns = licensed_upns()
    for upn in upns:
        m365sim.set_mailbox(TENANT, upn, "provisioned")
    service = granted(driver, cast)
    m365sim.throttle_batch_items(TENANT, 7, retry_after=1)

    summary = verified(driver, service)

    assert summary.in_scope == ObjectCoverage.objects.filter(service=service).count()
    assert CoverageState.UNCHECKED not in summary.counts
    assert all(states(service)[upn] == CoverageState.COVERED for upn in upns if upn in states(service))


def test_a_long_retry_after_ends_the_task_and_the_next_one_finishes_the_verification(cast, driver, m365sim):
    upns = licensed_upns()
    for upn in upns:
        m365sim.set_mailbox(TENANT, upn, "provisioned")
    service = granted(driver, cast)
    m365sim.throttle_batch_items(TENANT, 3, retry_after=120)

    with driver.capture(execute=True):
        assert verify.start_verification(service) is not None
    first, task = driver.tasks.pending.pop(0)
    with driver.capture(execute=True):
        task.apply(args=first.args, throw=True)
    (again, _), *_ = driver.tasks.pending
    assert (first.name, again.name) == ("coverage.verify_step", "coverage.verify_step")
    assert again.countdown == 120, "Microsoft's Retry-After"
    driver.tasks.run()
    summary = ServiceCoverage.objects.get(service=service)
    assert summary.verification_started_at is None
    assert summary.in_scope == ObjectCoverage.objects.filter(service=service).count()
    assert CoverageState.UNCHECKED not in summary.counts


def test_certain_users_mode_verifies_only_the_chosen_users(cast, driver, m365sim):
    upns = licensed_upns()
    for upn in upns:
        m365sim.set_mailbox(TENANT, upn, "provisioned")
    response = driver.grant(mode="certain")
    picker = driver.portal("get", response["Location"])["Location"]
    for upn in upns[:2]:
        driver.portal("post", picker.replace("/users/", "/users/add/"), {"user_principal_name": upn})
    with driver.capture(execute=True):
        driver.portal("post", picker.replace("/users/", "/users/start/"))
    driver.tasks.run()
    service = ProtectedService.objects.get(organization=cast.organization, kind="exchange-online")

    summary = verified(driver, service)

    assert set(states(service)) == set(upns[:2])
    assert (summary.in_scope, summary.covered) == (2, 2)


def test_after_a_delta_only_the_changed_users_are_checked_again(cast, driver, m365sim):
    upns = licensed_upns()
    for upn in upns:
        m365sim.set_mailbox(TENANT, upn, "provisioned")
    service = granted(driver, cast)
    verified(driver, service)
    checked_first = dict(ObjectCoverage.objects.filter(service=service).values_list("name", "checked_at"))

    # The rotation's next slot holds another covered mailbox: the hourly probe would check it again, a verification
    # after a sync must not.
    in_slot = ObjectCoverage.objects.filter(service=service, state=CoverageState.COVERED).exclude(name=upns[3]).first()
    assert in_slot is not None
    ServiceCoverage.objects.filter(service=service).update(rotation_slot=in_slot.rotation_slot)
    m365sim.control(
        "POST", f"tenants/{TENANT}/directory", {"op": "update_user", "user": upns[3], "display_name": "Renamed User"}
    )
    with driver.capture(execute=True):
        runs.sync_now(organization=cast.organization, actor=cast.owner.user)
    driver.tasks.run()  # the sync, then the verification it starts when it succeeds
    assert DirectoryUser.objects.get(user_principal_name=upns[3]).display_name == "Renamed User"
    assert verify.due_services() == [], "verified at once after the sync"

    rechecked = {
        name
        for name, checked_at in ObjectCoverage.objects.filter(service=service).values_list("name", "checked_at")
        if checked_at != checked_first[name]
    }
    assert rechecked == {upns[3]}, "after a sync, only what changed"


def test_sharepoint_covers_the_sites_listed_and_forgets_a_site_deleted(cast, driver, m365sim):
    added = m365sim.directory(TENANT, "add_site", display_name="Legal Hold")
    service = granted(driver, cast, "sharepoint-online")

    first = verified(driver, service)

    listed = set(Site.objects.filter(tenant__slug=TENANT).values_list("id", flat=True))
    assert set(ObjectCoverage.objects.filter(service=service).values_list("microsoft_id", flat=True)) == listed
    assert (first.in_scope, first.covered) == (len(listed), len(listed))
    m365sim.directory(TENANT, "delete_site", site=added["id"])
    after = verified(driver, service)
    assert not ObjectCoverage.objects.filter(service=service, microsoft_id=added["id"]).exists()
    assert (after.in_scope, after.covered) == (len(listed) - 1, len(listed) - 1)


def test_teams_covers_the_groups_provisioned_as_teams(cast, driver, m365sim):
    for name in ("Sales Team", "Legal Team"):
        group = m365sim.directory(TENANT, "add_group", display_name=name, unified=True, mail_enabled=True)
        m365sim.directory(TENANT, "set_team", group=group["id"], team=True)
    service = granted(driver, cast, "teams")
    summary = verified(driver, service)
    teams = set(SimGroup.objects.filter(tenant__slug=TENANT, is_team=True).values_list("id", flat=True))
    assert teams, "the seeded tenant has teams"
    assert {
        uuid.UUID(mid) for mid in ObjectCoverage.objects.filter(service=service).values_list("microsoft_id", flat=True)
    } == teams
    assert summary.covered == len(teams)

    gone = next(iter(teams))
    m365sim.directory(TENANT, "set_team", group=str(gone), team=False)
    assert verified(driver, service).covered == len(teams) - 1


def test_a_stale_task_of_a_verification_does_nothing(cast, driver):
    service = granted(driver, cast, verified_yet=False)
    fence = ServiceCoverage.objects.get(service=service).verification_fence
    driver.tasks.pending.clear()  # its task lost with its worker
    assert verify.start_verification(service) is None, "the lost task still holds the lease"
    ServiceCoverage.objects.filter(service=service).update(lease_expires_at=timezone.now())
    with driver.capture(execute=True):
        newer = verify.start_verification(service)
    assert newer == fence + 1
    assert verify.run_step(service.pk, fence) is None
    assert not ObjectCoverage.objects.filter(service=service).exists()
    driver.tasks.run()
    assert ServiceCoverage.objects.get(service=service).verified_at is not None


def lose_the_queued_verification(driver, service: ProtectedService) -> None:
    """As if the worker holding it died: its task gone, its lease run out."""
    assert VERIFY_STEP in driver.tasks.names
    driver.tasks.pending.clear()
    ServiceCoverage.objects.filter(service=service).update(lease_expires_at=timezone.now())


def test_the_dispatcher_starts_what_a_lost_task_left_and_the_hourly_probe(cast, driver, settings):
    service = granted(driver, cast, verified_yet=False)
    assert verify.due_services() == [], "the verification the sync started holds its lease"
    lose_the_queued_verification(driver, service)
    assert verify.due_services() == [(service, True)], "never verified: the probe"
    with driver.capture(execute=True):
        assert verify.dispatch_verifications() == 1
    driver.tasks.run()
    assert verify.due_services() == []

    with driver.capture(execute=True):
        runs.sync_now(organization=cast.organization, actor=cast.owner.user)
    driver.tasks.run(hold=(VERIFY_STEP,))
    lose_the_queued_verification(driver, service)
    assert verify.due_services() == [(service, False)], "a sync succeeded since: what changed"
    with driver.capture(execute=True):
        assert verify.dispatch_verifications() == 1
    driver.tasks.run()
    assert verify.due_services() == []
    later = timezone.now() + dt.timedelta(seconds=settings.COVERAGE_PROBE_SECONDS + 1)
    assert verify.due_services(later) == [(service, True)], "the hourly probe"
