"""The seed's provisioning steps, in a real browser, by visible labels only, against the stack `make run` starts.

Each test signs in with a fresh browser profile and leaves numbered screenshots of its steps in var/screenshots/.
"""

import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.browser.stack import NO_PROPAGATION, Screenshots, Stack

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

PORTAL_PASSWORD = "casportal-demo"
M365_PASSWORD = "m365-demo"
SUCCESS = "Successfully created a service account and synced data."
# The worker picks the first sync up within a second or two; a few hundred users take a few seconds more.
SYNC_TIMEOUT = 90_000


def log_in(page: Page, stack: Stack, email: str, password: str) -> None:
    page.goto(f"{stack.portal_url}/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("heading", name=re.compile("^Dashboard"))).to_be_visible()


def open_service_status(page: Page) -> None:
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Service Status").click()
    expect(page.get_by_role("heading", name="Service Status")).to_be_visible()


def service_row(page: Page, service: str):
    return page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=service, exact=True))


def sign_in_and_accept(page: Page, shot: Screenshots, global_admin: str) -> None:
    """At the simulator: Sign in as the Global Administrator, then Accept the permissions."""
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Email, phone, or Skype").fill(global_admin)
    page.get_by_label("Password").fill(M365_PASSWORD)
    shot(page, "microsoft-sign-in")
    page.get_by_role("button", name="Sign in").click()
    accept = page.get_by_role("button", name="Accept")
    expect(accept).to_be_visible()
    shot(page, "microsoft-consent")
    accept.click()


def wait_for_success(page: Page, shot: Screenshots, outcome: str = SUCCESS) -> None:
    # The progress page polls; the worker reports each step until the sentence appears.
    expect(
        page.get_by_role(
            "heading",
            name=re.compile(
                "creating the service account and synchronizing|access token recreated, synchronizing again"
            ),
        )
    ).to_be_visible(timeout=SYNC_TIMEOUT)
    shot(page, "progress")
    expect(page.get_by_role("alert").filter(has_text=outcome)).to_contain_text(outcome, timeout=SYNC_TIMEOUT)
    shot(page, "success")


# A synchronized service's status: the grant's until the verification that follows the sync has run, then its
# coverage ("Protected · 60 of 73 mailboxes"); both are true at their moment.
PROTECTED = re.compile(r"^\s*Protected(\s*·\s*[\d,]+ of [\d,]+ (mailbox(es)?|OneDrives?|sites?|teams?))?\s*$")


def scope_of_testing(users: int) -> re.Pattern[str]:
    """ "Testing · 3 users" until verified, then "Testing · 3 mailboxes" or "Testing · 2 of 3 mailboxes"."""
    noun = "(mailbox|user)" if users == 1 else "(mailboxes|users)"
    return re.compile(rf"^\s*Testing\s*·\s*([\d,]+ of )?{users} {noun}\s*$")


def expect_protected(page: Page, shot: Screenshots, service: str, status: re.Pattern[str] = PROTECTED) -> None:
    page.get_by_role("link", name="Back to Service Status").click()
    expect(page.get_by_role("heading", name="Service Status")).to_be_visible()
    expect(service_row(page, service).get_by_role("cell").nth(0)).to_have_text(status)
    shot(page, "protected")


def create_organization(
    stack: Stack, name: str, admin: str, sim_tenant: str, *, users: int, groups: int, propagation=NO_PROPAGATION
) -> None:
    """A portal organization with its first administrator (password set), and its simulated Microsoft 365 tenant
    (without consent propagation unless `propagation` gives m365sim_seed's options for it)."""
    stack.manage("create_organization", name, "--admin", admin)
    stack.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        f"user = get_user_model().objects.get(email={admin!r}); "
        f"user.set_password({PORTAL_PASSWORD!r}); user.save()",
    )
    stack.manage(
        "m365sim_seed",
        "--tenant",
        sim_tenant,
        "--users",
        str(users),
        "--groups",
        str(groups),
        "--members-per-group",
        "5",
        *propagation,
    )


def test_exchange_online_then_sharepoint_online_are_granted_all_users_and_read_protected(page: Page, stack: Stack):
    shot = Screenshots("contoso")
    log_in(page, stack, "admin@contoso.test", PORTAL_PASSWORD)
    shot(page, "dashboard")
    open_service_status(page)
    expect(service_row(page, "Exchange Online")).to_contain_text("Not granted")
    shot(page, "service-status")

    page.get_by_role("link", name="Grant Access to Exchange Online").click()
    expect(page.get_by_role("heading", name="Grant Access: Exchange Online")).to_be_visible()
    page.get_by_label("Select the policy to enable automatically when the access grant is complete").select_option(
        label="Default ATP policy"
    )
    expect(page.get_by_label("All users and groups of your organization")).to_be_checked()
    shot(page, "grant-form")
    page.get_by_role("button", name="Grant Permission").click()

    sign_in_and_accept(page, shot, "admin@contoso.onmicrosoft.com")
    wait_for_success(page, shot)
    expect(page.get_by_text("Default ATP policy")).to_be_visible()
    expect_protected(page, shot, "Exchange Online")
    expect(service_row(page, "Exchange Online")).to_contain_text("admin@contoso.onmicrosoft.com")

    # SharePoint Online: the organization's option is fixed by Exchange Online's grant.
    page.get_by_role("link", name="Grant Access to SharePoint Online").click()
    expect(page.get_by_role("heading", name="Grant Access: SharePoint Online")).to_be_visible()
    expect(page.get_by_label("All users and groups of your organization")).to_be_checked()
    expect(page.get_by_label("Certain users of your organization, for testing")).to_be_disabled()
    expect(page.get_by_text(re.compile("use the same synchronization option"))).to_be_visible()
    shot(page, "grant-form-option-fixed")
    page.get_by_role("button", name="Grant Permission").click()
    # Microsoft's session from the first grant remains: no password this time, only the permissions.
    page.get_by_role("button", name="Accept").click()
    wait_for_success(page, shot)
    expect_protected(page, shot, "SharePoint Online")
    expect(service_row(page, "Exchange Online").get_by_role("cell").nth(0)).to_have_text(PROTECTED)


def test_certain_users_grant_in_a_second_organization_syncs_the_users_picked(page: Page, stack: Stack):
    create_organization(stack, "Fabrikam", "boss@fabrikam.test", "fabrikam", users=30, groups=5)
    # A group whose name and members the test knows, next to the seeded ones.
    group = stack.control("POST", "tenants/fabrikam/directory", {"op": "add_group", "display_name": "Pilot testers"})
    for alias, name in (("pilot.one", "Pilot One"), ("pilot.two", "Pilot Two"), ("pilot.three", "Pilot Three")):
        upn = f"{alias}@fabrikam.onmicrosoft.com"
        stack.control(
            "POST", "tenants/fabrikam/directory", {"op": "add_user", "user_principal_name": upn, "display_name": name}
        )
        stack.control("POST", "tenants/fabrikam/directory", {"op": "add_member", "group": group["id"], "user": upn})

    shot = Screenshots("fabrikam")
    log_in(page, stack, "boss@fabrikam.test", PORTAL_PASSWORD)
    expect(page.get_by_role("heading", name=re.compile("Fabrikam"))).to_be_visible()
    open_service_status(page)
    page.get_by_role("link", name="Grant Access to Exchange Online").click()
    page.get_by_label("Select the policy to enable automatically when the access grant is complete").select_option(
        label="Default ATP policy"
    )
    page.get_by_label("Certain users of your organization, for testing").check()
    shot(page, "grant-form-certain-users")
    page.get_by_role("button", name="Grant Permission").click()
    sign_in_and_accept(page, shot, "admin@fabrikam.onmicrosoft.com")

    # Only now can the portal read the directory: the admin picks the users.
    expect(page.get_by_role("heading", name="Choose the users to synchronize")).to_be_visible(timeout=SYNC_TIMEOUT)
    page.get_by_label("User principal name").fill("alex@fabrikam.onmicrosoft.com")
    page.get_by_role("button", name="Add user").click()
    expect(
        page.get_by_role("alert").filter(has_text="alex@fabrikam.onmicrosoft.com will be synchronized.")
    ).to_be_visible()

    page.get_by_label("Search groups").fill("Pilot")
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_role("link", name="Pilot testers").click()
    page.get_by_label(re.compile("^pilot.one@fabrikam.onmicrosoft.com")).check()
    page.get_by_label(re.compile("^pilot.three@fabrikam.onmicrosoft.com")).check()
    shot(page, "picker-group-members")
    page.get_by_role("button", name="Add selected users").click()
    expect(page.get_by_role("alert").filter(has_text="2 users added.")).to_be_visible()
    expect(page.get_by_role("heading", name="Chosen users (3 of 100)")).to_be_visible()
    chosen = page.get_by_role("region", name=re.compile("Chosen users")).get_by_role("listitem")
    expect(chosen).to_have_count(3)
    for upn in ("alex@", "pilot.one@", "pilot.three@"):
        expect(chosen.filter(has_text=f"{upn}fabrikam.onmicrosoft.com")).to_have_count(1)
    expect(chosen.filter(has_text="pilot.two@")).to_have_count(0)
    shot(page, "picker-chosen")

    page.get_by_role("button", name="Start synchronization").click()
    wait_for_success(page, shot)
    expect(page.get_by_role("listitem").filter(has_text="Users synchronized")).to_contain_text("3 of 3")
    # Protected for the three users chosen, for testing: Service Status says so, not the Protected of a whole tenant.
    expect_protected(page, shot, "Exchange Online", scope_of_testing(3))


def reload_until_row_reads(page: Page, service: str, status: str, timeout_s: float = 60) -> None:
    """Service Status is not live: reload it until the worker's verdict shows."""
    cell = service_row(page, service).get_by_role("cell").nth(0)
    deadline = time.monotonic() + timeout_s
    while not cell.inner_text().startswith(status) and time.monotonic() < deadline:
        page.wait_for_timeout(500)
        page.reload()
    expect(cell).to_have_text(re.compile(f"^{re.escape(status)}"))


def test_revoked_consent_shows_the_banner_and_recreate_access_token_protects_again(page: Page, stack: Stack):
    create_organization(stack, "Northwind", "boss@northwind.test", "northwind", users=30, groups=5)
    shot = Screenshots("northwind")
    log_in(page, stack, "boss@northwind.test", PORTAL_PASSWORD)
    open_service_status(page)
    page.get_by_role("link", name="Grant Access to Exchange Online").click()
    page.get_by_role("button", name="Grant Permission").click()
    sign_in_and_accept(page, shot, "admin@northwind.onmicrosoft.com")
    wait_for_success(page, shot)
    expect_protected(page, shot, "Exchange Online")

    # The customer withdraws the permissions in their tenant. Microsoft honours the portal's current token until it
    # expires, so the health probe, which asks for a fresh one, finds out.
    client_id = stack.control("GET", "tenants/northwind")["service_principals"][0]["client_id"]
    stack.control("POST", f"tenants/northwind/service-principals/{client_id}", {"action": "revoke_consent"})
    stack.manage("shell", "-c", "from connection.health import probe_connections; probe_connections()")
    reload_until_row_reads(page, "Exchange Online", "Access token invalid")
    banner = page.get_by_role("alert").filter(has_text="no longer lets casportal access your Microsoft 365 tenant")
    expect(banner).to_be_visible()
    shot(page, "access-token-invalid")

    page.get_by_role("link", name="Recreate Access Token for Exchange Online").click()
    expect(page.get_by_role("heading", name="Recreate Access Token: Exchange Online")).to_be_visible()
    shot(page, "recreate-form")
    page.get_by_role("button", name="Grant Permission").click()
    # Still signed in at Microsoft in this browser: only the permissions to accept again.
    page.get_by_role("button", name="Accept").click()
    # A recreated access token syncs on from where the directory was: its run says what it changed.
    wait_for_success(page, shot, outcome="Synchronization finished.")
    expect_protected(page, shot, "Exchange Online")
    expect(banner).to_have_count(0)
