"""The Coverage pages, Service Status' coverage line and All organizations' coverage column, read through the real
flow: a grant and its sync against the simulator, then the verification's own tasks over Graph JSON batches."""

import html
import re
import uuid

import pytest
from django.conf import settings
from django.urls import reverse

from coverage import services, verify
from coverage.models import CoverageState, ObjectCoverage, ServiceCoverage
from coverage.services import Check
from directory.models import DirectoryUser
from grant import status
from m365sim.models import User as SimUser
from organizations.models import ProtectedService, ServiceStatus
from tests.cast import client_for
from tests.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])

TENANT = "contoso"
VERIFY_STEP = "coverage.verify_step"


def text(response) -> str:
    """The page's words, tags out, spaces collapsed."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())).strip())


def coverage_url(organization, kind: str = "exchange-online") -> str:
    return reverse("service_coverage", args=[organization.slug, kind])


def licensed_upns() -> list[str]:
    return sorted(
        SimUser.objects.filter(tenant__slug=TENANT, account_enabled=True)
        .exclude(assigned_licenses=[])
        .values_list("user_principal_name", flat=True)
    )


def granted(driver, cast, kind: str = "exchange-online", *, verified_yet: bool = True) -> ProtectedService:
    """The service granted and synchronized, and (unless not `verified_yet`) its coverage verified right after."""
    driver.grant(kind)
    driver.tasks.run(hold=() if verified_yet else (VERIFY_STEP,))
    service = ProtectedService.objects.get(organization=cast.organization, kind=kind)
    assert service.status == ServiceStatus.PROTECTED
    return service


def granted_for_testing(driver, cast, upns: list[str]) -> ProtectedService:
    """Exchange Online granted for the users chosen for testing, synchronized once."""
    picker = driver.portal("get", driver.grant(mode="certain")["Location"])["Location"]
    for upn in upns:
        driver.portal("post", picker.replace("/users/", "/users/add/"), {"user_principal_name": upn})
    driver.portal("post", picker.replace("/users/", "/users/start/"))
    driver.tasks.run()
    service = ProtectedService.objects.get(organization=cast.organization, kind="exchange-online")
    assert service.status == ServiceStatus.PROTECTED
    return service


def verified(driver, service: ProtectedService) -> ServiceCoverage:
    """A verification started as the dispatcher starts one, then carried out by its tasks."""
    if VERIFY_STEP not in driver.tasks.names:  # else the one the sync started is still queued: it runs now
        with driver.capture(execute=True):
            assert verify.start_verification(service) is not None
    driver.tasks.run()
    return ServiceCoverage.objects.get(service=service)


def every_mailbox(m365sim, state: str = "provisioned") -> list[str]:
    upns = licensed_upns()
    for upn in upns:
        m365sim.set_mailbox(TENANT, upn, state)
    return upns


def test_before_the_first_verification_no_count_is_shown_as_if_checked(cast, driver, owner_client):
    granted(driver, cast, verified_yet=False)

    page = text(owner_client.get(coverage_url(cast.organization)))
    assert "Verification has not run yet: casportal has not checked any of Exchange Online's mailboxes" in page
    assert not re.search(r"\d+ of \d+ mailboxes", page)
    assert "Last verified" not in page
    status = text(owner_client.get(reverse("service_status", args=[cast.organization.slug])))
    assert status.count("Coverage not verified yet for Exchange Online") == 1
    assert "Protected" in status


def test_exchange_states_each_show_their_count_reason_and_fix(cast, driver, m365sim, owner_client):
    upns = every_mailbox(m365sim)
    gone, on_premises, refused = upns[0], upns[1], upns[2]
    m365sim.set_mailbox(TENANT, gone, "none")
    m365sim.set_mailbox(TENANT, on_premises, "on_premises")
    denied = m365sim.directory(TENANT, "add_group", display_name="Not scanned", mail_enabled=True)
    m365sim.directory(TENANT, "add_member", group=denied["id"], user=refused)
    m365sim.apply_access_policy(TENANT, denied["id"], "DenyAccess", delay_seconds=0)
    m365sim.directory(TENANT, "update_user", user=upns[3], account_enabled=False)
    service = granted(driver, cast)
    summary = verified(driver, service)

    in_scope = DirectoryUser.objects.filter(organization=cast.organization, account_enabled=True).count()
    disabled = DirectoryUser.objects.filter(organization=cast.organization, account_enabled=False).count()
    assert disabled >= 1
    assert summary.in_scope == in_scope
    page = text(owner_client.get(coverage_url(cast.organization)))
    assert f"{summary.covered} of {in_scope} mailboxes covered." in page
    assert f"{disabled} disabled account{'s are' if disabled > 1 else ' is'} not in scope and not counted." in page
    no_mailbox = summary.counts[CoverageState.NO_MAILBOX]
    assert no_mailbox >= 2
    assert f"No Exchange Online mailbox: {no_mailbox}" in page
    assert (
        "Microsoft 365 has no Exchange Online mailbox for these users: unlicensed, not yet provisioned (a mailbox "
        "appears some time after a licence), inactive or soft-deleted, or hosted on-premises." in page
    )
    assert "Refused by an application access policy: 1" in page
    # Microsoft's 403 names neither kind of policy: both are explained, with the checks to run.
    assert "RestrictAccess casportal's application may reach only the members of a group" in page
    assert "DenyAccess These users are in a group casportal's application is denied" in page
    assert f"Test-ApplicationAccessPolicy -Identity <user> -AppId {settings.MICROSOFT_CLIENT_ID}" in page
    assert "Get-ApplicationAccessPolicy" in page
    assert "can take over an hour to apply" in page
    assert "Last verified" in page
    # States with no mailbox in them get a count, not an explanation.
    assert "Could not be checked 0" in page
    assert "Microsoft's answer did not say" not in page


def test_the_list_filters_by_state_and_name_in_reading_order(cast, driver, m365sim, owner_client):
    upns = every_mailbox(m365sim)
    m365sim.set_mailbox(TENANT, upns[0], "none")
    service = granted(driver, cast)
    verified(driver, service)
    url = coverage_url(cast.organization)

    page = owner_client.get(url, {"state": CoverageState.NO_MAILBOX}).content.decode()
    listed = re.findall(r'<th scope="row" class="text-break">([^<]+)</th>', page)
    expected = ObjectCoverage.objects.filter(service=service, state=CoverageState.NO_MAILBOX)
    assert sorted(listed) == sorted(expected.values_list("name", flat=True))
    assert upns[0] in listed
    assert "MailboxNotEnabledForRESTAPI" in page
    everyone = re.findall(r'<th scope="row" class="text-break">([^<]+)</th>', owner_client.get(url).content.decode())
    assert len(everyone) == ObjectCoverage.objects.filter(service=service).count()
    searched = owner_client.get(url, {"q": upns[1].split("@")[0]}).content.decode()
    assert re.findall(r'<th scope="row" class="text-break">([^<]+)</th>', searched) == [upns[1]]
    assert owner_client.get(url, {"state": "bogus"}).status_code == 400


def test_names_sort_as_read_and_pages_hold_fifty(cast, driver, m365sim, owner_client):
    service = granted(driver, cast, "teams")
    checks = [Check(str(uuid.uuid4()), f"Training {n}", CoverageState.COVERED) for n in range(1, 56)]
    services.record_checks(service, checks)
    services.summarize(service)

    first = owner_client.get(coverage_url(cast.organization, "teams")).content.decode()
    names = re.findall(r'<th scope="row" class="text-break">([^<]+)</th>', first)
    assert names[:11] == [f"Training {n}" for n in range(1, 12)]
    assert len(names) == 50
    assert "Page 1 of 2" in first
    second = owner_client.get(coverage_url(cast.organization, "teams"), {"page": 2}).content.decode()
    assert re.findall(r'<th scope="row" class="text-break">([^<]+)</th>', second)[-1] == "Training 55"
    assert m365sim is not None


def test_onedrive_without_a_drive_says_why_and_how_to_provision(cast, driver, m365sim, owner_client):
    upns = licensed_upns()
    for upn in upns:
        m365sim.set_drive(TENANT, upn, "provisioned")
    m365sim.set_drive(TENANT, upns[0], "not_provisioned")
    service = granted(driver, cast, "onedrive")
    summary = verified(driver, service)

    page = text(owner_client.get(coverage_url(cast.organization, "onedrive")))
    assert f"{summary.covered} of {summary.in_scope} OneDrives covered." in page
    assert summary.counts[CoverageState.NO_DRIVE] >= 1
    assert "not licensed for OneDrive, or not provisioned yet" in page
    assert "Request-SPOPersonalSite -UserEmails <user>" in page


def test_sites_and_teams_not_readable_or_unchecked_quote_microsoft(cast, driver, m365sim, owner_client):
    service = granted(driver, cast, "sharepoint-online")
    verified(driver, service)
    services.record_checks(
        service,
        [
            Check(
                "site-locked",
                "https://contoso.sharepoint.com/sites/locked",
                CoverageState.NOT_READABLE,
                "accessDenied: Access denied",
            ),
            Check(
                "site-busy",
                "https://contoso.sharepoint.com/sites/busy",
                CoverageState.UNCHECKED,
                "serviceNotAvailable: try later",
            ),
        ],
    )
    summary = services.summarize(service)

    page = text(owner_client.get(coverage_url(cast.organization, "sharepoint-online")))
    assert f"{summary.covered} of {summary.in_scope} sites covered." in page
    assert "Not readable by casportal: 1" in page
    assert "Microsoft lists these sites to casportal's application but refused to read them" in page
    assert "Could not be checked: 1" in page
    assert "they are checked again at the next verification" in page
    assert "accessDenied: Access denied" in page
    assert "serviceNotAvailable: try later" in page
    assert m365sim is not None


def test_certain_users_mode_reads_testing_with_the_chosen_users_mailboxes(cast, driver, m365sim, owner_client):
    upns = every_mailbox(m365sim)
    m365sim.set_mailbox(TENANT, upns[2], "none")
    service = granted_for_testing(driver, cast, upns[:3])
    summary = verified(driver, service)
    assert (summary.covered, summary.in_scope) == (2, 3)

    page = text(owner_client.get(coverage_url(cast.organization)))
    assert "Testing · 2 of 3 mailboxes" in page
    assert "In scope: the mailboxes of the 3 enabled users chosen for testing, and no one else." in page
    assert "Extend to all users" in page
    status = text(owner_client.get(reverse("service_status", args=[cast.organization.slug])))
    assert status.count("Testing · 2 of 3 mailboxes") == 1


def test_service_status_tells_coverage_links_it_and_warns_of_a_drop(cast, driver, m365sim, owner_client):
    upns = every_mailbox(m365sim)
    service = granted(driver, cast)
    first = verified(driver, service)
    status_url = reverse("service_status", args=[cast.organization.slug])
    page = owner_client.get(status_url).content.decode()
    line = f"Protected · {first.covered} of {first.in_scope} mailboxes"
    assert f'href="{coverage_url(cast.organization)}">{line}</a>' in page

    scope = m365sim.directory(TENANT, "add_group", display_name="Scanned", mail_enabled=True)
    m365sim.directory(TENANT, "add_member", group=scope["id"], user=upns[0])
    m365sim.apply_access_policy(TENANT, scope["id"], "RestrictAccess", delay_seconds=0)
    dropped = services.summarize(service)  # the counts as of the first verification: no drop yet
    assert not dropped.dropped
    refused = [
        Check(
            str(row.microsoft_id),
            row.name,
            CoverageState.POLICY_REFUSED,
            "ErrorAccessDenied: Access is denied.",
            user_id=row.user_id,
        )
        for row in ObjectCoverage.objects.filter(service=service).exclude(name=upns[0])[:3]
    ]
    services.record_checks(service, refused)
    dropped = services.summarize(service)
    assert dropped.dropped

    warning = f"Coverage dropped: {dropped.covered} of {dropped.in_scope} mailboxes"
    for url in (status_url, reverse("dashboard", args=[cast.organization.slug])):
        status = text(owner_client.get(url))
        assert status.count(warning) == 1, url
        assert "Protected ·" not in status, url
    coverage = text(owner_client.get(coverage_url(cast.organization)))
    assert coverage.count(warning) == 1
    assert f"{first.covered} before the drop" in coverage


def test_an_invalid_access_token_wins_over_coverage(cast, driver, m365sim, owner_client):
    every_mailbox(m365sim)
    service = granted(driver, cast)
    verified(driver, service)
    ProtectedService.objects.filter(pk=service.pk).update(status=ServiceStatus.ACCESS_TOKEN_INVALID)

    status = text(owner_client.get(reverse("service_status", args=[cast.organization.slug])))
    assert "Access token invalid" in status
    assert "mailboxes" not in status


def test_another_organizations_coverage_is_never_shown(cast, driver, m365sim, owner_client, outsider_client):
    every_mailbox(m365sim)
    service = granted(driver, cast)
    verified(driver, service)
    secret = ObjectCoverage.objects.filter(service=service).first()
    assert secret is not None

    assert outsider_client.get(coverage_url(cast.organization)).status_code == 404
    theirs = cast.outsider.organization
    mine_as_member = MembershipFactory.create(organization=theirs, user=cast.owner.user)
    page = client_for(mine_as_member).get(coverage_url(theirs)).content.decode()
    assert secret.name not in page
    assert "is not granted" in page
    assert owner_client.get(reverse("service_coverage", args=[cast.organization.slug, "bogus"])).status_code == 404


def test_all_organizations_shows_each_protected_services_coverage_under_its_status(cast, driver, m365sim, owner_client):
    every_mailbox(m365sim)
    service = granted(driver, cast, verified_yet=False)
    other = OrganizationFactory.create(name="Northwind")
    MembershipFactory.create(organization=other, user=cast.owner.user)
    url = reverse("all_organizations")
    assert "Protected not verified yet covered: Exchange Online in Contoso" in text(owner_client.get(url))

    summary = verified(driver, service)
    page = text(owner_client.get(url))
    assert f"Protected {summary.covered}/{summary.in_scope} mailboxes covered: Exchange Online in Contoso" in page
    assert "Coverage dropped" not in page
    assert "Northwind" in page


def test_a_drop_shows_on_all_organizations_and_services_read_with_coverage_cost_no_query(
    cast, driver, m365sim, owner_client, django_assert_num_queries
):
    upns = every_mailbox(m365sim)
    service = granted(driver, cast)
    verified(driver, service)
    row = ObjectCoverage.objects.filter(service=service).exclude(name=upns[0]).first()
    assert row is not None
    services.record_checks(
        service, [Check(row.microsoft_id, row.name, CoverageState.POLICY_REFUSED, "ErrorAccessDenied", row.user_id)]
    )
    summary = services.summarize(service)
    assert summary.dropped

    page = text(owner_client.get(reverse("all_organizations")))
    assert (
        f"{summary.covered}/{summary.in_scope} mailboxes covered: Exchange Online in Contoso Coverage dropped" in page
    )
    joined = list(ProtectedService.objects.filter(organization=cast.organization).select_related("coverage"))
    with django_assert_num_queries(0):
        found = status.coverage_of(joined)
    assert found == {service.pk: summary}
    read_alone = list(ProtectedService.objects.filter(organization=cast.organization))
    with django_assert_num_queries(1):
        assert status.coverage_of(read_alone) == found
