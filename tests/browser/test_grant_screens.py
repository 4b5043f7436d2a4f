"""The grant screens in a real browser, at a phone's and a desktop's width, each state with no sideways scroll and no
serious axe-core violation: a grant left at Microsoft and resumed from Service Status, a testing scope on every page
that shows status, a refusal that keeps the navigation, a broken connection explained once and repaired, the typed
confirmation of Remove of the last service, and a read-only member's page instead of the Grant Access form."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from directory.progress import SUCCESS_SENTENCE
from tests.browser.stack import Screenshots, Stack
from tests.browser.test_grant_in_browser import (
    PORTAL_PASSWORD,
    SYNC_TIMEOUT,
    create_organization,
    log_in,
    open_service_status,
    reload_until_row_reads,
    scope_of_testing,
    service_row,
    sign_in_and_accept,
)
from tests.browser.test_layout import SETTLED, check_page

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

ORGANIZATION = "Litware"
ADMIN = "boss@litware.test"
GLOBAL_ADMIN = "admin@litware.onmicrosoft.com"
# Two frames after a resize Chromium has laid the page out again at the new width (a focused input lags otherwise).


@contextmanager
def axe_ready_page(browser: Any) -> Iterator[Page]:
    """The suite's fresh profile, able to run axe-core: it is injected as a script, which the portal's
    Content-Security-Policy would refuse."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US", bypass_csp=True)
    context.set_default_timeout(20_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    with axe_ready_page(browser) as fresh:
        yield fresh


def check_widths(page: Page, shot: Screenshots, name: str) -> list[str]:
    """The page at 390 and 1440 px: what is wrong at either width (and a screenshot of each)."""
    problems = []
    for width in (390, 1440):
        page.set_viewport_size({"width": width, "height": 900})
        page.evaluate(SETTLED)
        problems += check_page(page, shot, f"{name}-{width}")
    page.set_viewport_size({"width": 1280, "height": 800})
    return problems


def choose_for_testing(stack: Stack, upn: str) -> None:
    stack.manage(
        "shell",
        "-c",
        "from directory.models import SelectedUser; from m365sim.models import User; "
        "from organizations.models import Organization; "
        f"user = User.objects.get(user_principal_name={upn!r}); "
        "SelectedUser.objects.create(organization=Organization.objects.get(slug='litware'), microsoft_id=user.id, "
        "user_principal_name=user.user_principal_name, display_name=user.display_name)",
    )


def wait_for_the_synchronization(page: Page) -> None:
    """Until the progress page says the run succeeded: a first grant's sentence, or a later run's."""
    succeeded = re.compile(f"{re.escape(SUCCESS_SENTENCE)}|^Synchronization finished")
    expect(page.get_by_role("alert").filter(has_text=succeeded)).to_be_visible(timeout=SYNC_TIMEOUT)


def status_cell(page: Page, service: str):
    return service_row(page, service).get_by_role("cell").nth(0)


def leave_a_grant_at_microsoft_then_resume_it(page: Page, stack: Stack, shot: Screenshots) -> list[str]:
    """The first grant states its irreversible choice; the admin leaves Microsoft's sign-in page, finds the grant on
    Service Status with Resume and Cancel, and resumes it."""
    problems: list[str] = []
    page.get_by_role("link", name="Grant Access to Exchange Online").click()
    expect(page.get_by_text("This choice applies to all four services")).to_be_visible()
    expect(page.get_by_text("All users cannot be changed back to certain users.")).to_be_visible()
    expect(page.get_by_role("heading", name="What Exchange Online lets casportal do")).to_be_visible()
    problems += check_widths(page, shot, "grant-form")
    page.get_by_label("Certain users of your organization, for testing").check()
    page.get_by_role("button", name="Grant Permission").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(f"{stack.portal_url}/o/litware/service-status/")

    expect(status_cell(page, "Exchange Online")).to_contain_text("Grant in progress")
    expect(status_cell(page, "Exchange Online")).to_contain_text(f"by {ADMIN}. Now: Waiting for consent at Microsoft.")
    expect(page.get_by_role("button", name="Cancel the grant of Exchange Online")).to_be_visible()
    problems += check_widths(page, shot, "grant-in-progress")
    page.get_by_role("button", name="Resume the grant of Exchange Online").click()
    sign_in_and_accept(page, shot, GLOBAL_ADMIN)
    expect(page.get_by_role("heading", name="Choose the users to synchronize")).to_be_visible(timeout=SYNC_TIMEOUT)
    choose_for_testing(stack, "alex@litware.onmicrosoft.com")  # the picker is the subject of other tests
    page.reload()
    page.get_by_role("button", name="Start synchronization").click()
    wait_for_the_synchronization(page)
    return problems


def read_the_scope_of_testing_everywhere(page: Page, stack: Stack, shot: Screenshots) -> list[str]:
    """Service Status, the Dashboard and All organizations read "Testing · 1 user", with the way to extend."""
    problems: list[str] = []
    open_service_status(page)
    expect(status_cell(page, "Exchange Online")).to_have_text(scope_of_testing(1))
    expect(page.get_by_role("link", name="Extend to all users")).to_be_visible()
    problems += check_widths(page, shot, "service-status-testing")
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Dashboard").click()
    expect(page.get_by_text(scope_of_testing(1))).to_be_visible()
    expect(page.get_by_text("casportal protects only the 1 user chosen for testing")).to_be_visible()
    problems += check_widths(page, shot, "dashboard-testing")
    page.goto(f"{stack.portal_url}/organizations/")
    expect(page.get_by_role("row").filter(has_text=ORGANIZATION)).to_contain_text(re.compile(r"Testing · "))
    problems += check_widths(page, shot, "all-organizations-testing")
    return problems


def find_policies_waiting_and_a_refusal_that_leads_on(page: Page, stack: Stack, shot: Screenshots) -> list[str]:
    """Policies of a service without a grant wait for it; SharePoint Online's form speaks of SharePoint, and declined
    at Microsoft, the refusal keeps the navigation and offers Try again."""
    problems: list[str] = []
    page.goto(f"{stack.portal_url}/o/litware/policies/")
    sharepoint = page.get_by_role("region", name="SharePoint Online")
    expect(sharepoint.get_by_text("Waits for the grant")).to_have_count(3)
    expect(sharepoint.get_by_role("button", name=re.compile("^Enable"))).to_have_count(0)
    problems += check_widths(page, shot, "policies")
    page.goto(f"{stack.portal_url}/o/litware/services/sharepoint-online/grant/")
    expect(page.get_by_role("heading", name="What SharePoint Online lets casportal do")).to_be_visible()
    expect(page.get_by_text("Sites.Read.All", exact=True)).to_be_visible()
    page.get_by_role("button", name="Grant Permission").click()
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("heading", name="Access was not granted")).to_be_visible()
    navigation = page.get_by_role("navigation", name="Main navigation")
    expect(navigation.get_by_role("link", name="Service Status", include_hidden=True)).to_have_count(1)
    expect(page.get_by_role("link", name="Try again")).to_be_visible()
    problems += check_widths(page, shot, "refused")
    return problems


def break_the_connection_then_recreate_it(page: Page, stack: Stack, shot: Screenshots) -> list[str]:
    """A broken connection is explained once and the banner links nowhere it already is; after Recreate Access Token
    no stale banner stays."""
    problems: list[str] = []
    client_id = stack.control("GET", "tenants/litware")["service_principals"][0]["client_id"]
    stack.control("POST", f"tenants/litware/service-principals/{client_id}", {"action": "revoke_consent"})
    stack.manage("shell", "-c", "from connection.health import probe_connections; probe_connections()")
    page.goto(f"{stack.portal_url}/o/litware/service-status/")
    reload_until_row_reads(page, "Exchange Online", "Access token invalid")
    explanation = page.get_by_text(re.compile("no longer lets casportal access your Microsoft 365 tenant"))
    expect(explanation).to_have_count(1)
    expect(page.get_by_role("link", name="Go to Service Status")).to_have_count(0)
    problems += check_widths(page, shot, "access-token-invalid")
    page.get_by_role("link", name="Recreate Access Token for Exchange Online").click()
    page.get_by_role("button", name="Grant Permission").click()
    page.get_by_role("button", name="Accept").click()
    # After the refusal above, Microsoft asks which account signs in.
    page.get_by_role("button", name=re.compile(re.escape(GLOBAL_ADMIN))).click()
    wait_for_the_synchronization(page)
    expect(explanation).to_have_count(0)
    open_service_status(page)
    expect(explanation).to_have_count(0)
    expect(status_cell(page, "Exchange Online")).to_have_text(scope_of_testing(1))
    return problems


def remove_the_last_service(page: Page, shot: Screenshots) -> list[str]:
    """What goes, counted, and a typed confirmation that a wrong word does not give."""
    problems: list[str] = []
    page.get_by_role("link", name="Remove Exchange Online").click()
    expect(page.get_by_text(re.compile(r"^\d+ synchronized users?$"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"^\d+ group memberships?$"))).to_be_visible()
    problems += check_widths(page, shot, "remove-confirm")
    page.get_by_label(re.compile("To confirm, type")).fill("yes")
    page.get_by_role("button", name="Remove Exchange Online and delete the data").click()
    expect(page.get_by_text(re.compile("“yes” does not confirm it"))).to_be_visible()
    problems += check_widths(page, shot, "remove-refused")
    page.get_by_label(re.compile("To confirm, type")).fill("DELETE")
    page.get_by_role("button", name="Remove Exchange Online and delete the data").click()
    expect(page.get_by_role("heading", name="Exchange Online was removed")).to_be_visible()
    expect(page.get_by_text(re.compile("no longer connected to a Microsoft 365 tenant"))).to_be_visible()
    return problems


def test_grant_screens_tell_the_truth_and_lead_somewhere(page: Page, stack: Stack) -> None:
    create_organization(stack, ORGANIZATION, ADMIN, "litware", users=30, groups=5)
    shot = Screenshots("litware")
    log_in(page, stack, ADMIN, PORTAL_PASSWORD)
    open_service_status(page)
    problems = leave_a_grant_at_microsoft_then_resume_it(page, stack, shot)
    problems += read_the_scope_of_testing_everywhere(page, stack, shot)
    problems += find_policies_waiting_and_a_refusal_that_leads_on(page, stack, shot)
    problems += break_the_connection_then_recreate_it(page, stack, shot)
    problems += remove_the_last_service(page, shot)
    assert problems == []


def test_a_read_only_member_gets_a_page_saying_why_with_the_navigation(page: Page, stack: Stack) -> None:
    stack.manage(
        "shell",
        "-c",
        "from accounts.models import User; from allauth.account.models import EmailAddress; "
        "from organizations.models import Organization, Role; from organizations.services import add_member; "
        f"user = User.objects.create_user(email='reader@contoso.test', password={PORTAL_PASSWORD!r}); "
        "EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True); "
        "add_member(organization=Organization.objects.get(slug='contoso'), user=user, role=Role.READ_ONLY, actor=None)",
    )
    shot = Screenshots("reader")
    log_in(page, stack, "reader@contoso.test", PORTAL_PASSWORD)
    open_service_status(page)
    expect(page.get_by_role("link", name=re.compile("^Grant Access"))).to_have_count(0)
    response = page.goto(f"{stack.portal_url}/o/contoso/services/exchange-online/grant/")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_text("Only an administrator of Contoso can grant access")).to_be_visible()
    expect(page.get_by_role("button", name="Grant Permission")).to_have_count(0)
    expect(page.get_by_role("link", name="Back to the dashboard")).to_be_visible()
    assert check_widths(page, shot, "read-only-grant") == []
