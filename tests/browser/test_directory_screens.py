"""Long work you can watch, and a Directory and picker that help, in a real browser against the stack `make run`
starts: the first sync's bars, Sync now leading to its own run's progress, the reason when Microsoft makes a run
wait, the Sync history chart, the Directory's totals, filters and reading order, and the picker's searches and
Select all. Each screen at a phone's and a desktop's width: no sideways scroll, no serious axe-core violation."""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser import test_layout as layout
from tests.browser.stack import Screenshots, Stack
from tests.browser.test_grant_in_browser import (
    PORTAL_PASSWORD,
    SYNC_TIMEOUT,
    create_organization,
    log_in,
    open_service_status,
    sign_in_and_accept,
    wait_for_success,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    """A fresh profile, 1280 x 800; axe is injected as a script, which the portal's CSP would refuse."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US", bypass_csp=True)
    context.set_default_timeout(20_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def at_each_width(page: Page, name: str) -> None:
    layout.at_each_width(page, f"directory-{name}")


def control(stack: Stack, tenant: str, **body: object) -> dict:
    return stack.control("POST", f"tenants/{tenant}/directory", body)


def grant(page: Page, shot: Screenshots, tenant: str, *, certain: bool = False) -> None:
    open_service_status(page)
    page.get_by_role("link", name="Grant Access to Exchange Online").click()
    if certain:
        page.get_by_label("Certain users of your organization, for testing").check()
    page.get_by_role("button", name="Grant Permission").click()
    sign_in_and_accept(page, shot, f"admin@{tenant}.onmicrosoft.com")


def test_the_first_sync_sync_now_history_and_directory_read_well(page: Page, stack: Stack):
    create_organization(stack, "Adatum", "boss@adatum.test", "adatum", users=120, groups=6)
    for n in (18, 37, 40, 7, 9):
        control(stack, "adatum", op="add_group", display_name=f"Training {n}")
    shot = Screenshots("directory-adatum")
    log_in(page, stack, "boss@adatum.test", PORTAL_PASSWORD)
    grant(page, shot, "adatum")

    expect(
        page.get_by_role("heading", name="Exchange Online: creating the service account and synchronizing")
    ).to_be_visible(timeout=SYNC_TIMEOUT)
    expect(page.get_by_role("progressbar", name="Users synchronized")).to_be_visible()
    wait_for_success(page, shot)
    expect(page.get_by_text(re.compile(r"^\d+ users and \d+ groups synchronized: \d+ new\.$"))).to_be_visible()
    at_each_width(page, "first-sync-done")

    # Sync now leads to its own run, which says what it is and, here, that nothing changed.
    open_service_status(page)
    page.get_by_role("button", name="Sync now").click()
    expect(page.get_by_role("heading", name="Sync now: synchronizing the directory")).to_be_visible()
    expect(page.get_by_role("alert").filter(has_text="Synchronization started.")).to_be_visible()
    expect(page.get_by_text("No changes since the last sync.")).to_be_visible(timeout=SYNC_TIMEOUT)
    at_each_width(page, "sync-now-no-changes")

    page.goto(f"{stack.portal_url}/o/adatum/sync-history/")
    expect(page.get_by_role("img", name=re.compile("^Objects written"))).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("^Duration, in seconds"))).to_be_visible()
    at_each_width(page, "sync-history")

    page.goto(f"{stack.portal_url}/o/adatum/directory/")
    expect(page.get_by_text(re.compile(r"^12\d users synchronized\.$"))).to_be_visible()
    at_each_width(page, "users")
    page.get_by_label("License").select_option(label="Unlicensed")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text(re.compile(r"^\d+ of 12\d users match\.$"))).to_be_visible()

    page.goto(f"{stack.portal_url}/o/adatum/directory/groups/?q=Training")
    names = page.get_by_role("table").get_by_role("rowheader").all_inner_texts()
    assert [name.strip() for name in names] == [f"Training {n}" for n in (7, 9, 18, 37, 40)]
    at_each_width(page, "groups")
    page.goto(f"{stack.portal_url}/o/adatum/directory/groups/")
    page.get_by_role("table").get_by_role("link").first.click()
    expect(page.get_by_text(re.compile(r"^\d+ members?: "))).to_be_visible()
    at_each_width(page, "group")


def test_a_run_microsoft_throttles_says_how_long_it_was_asked_to_wait(page: Page, stack: Stack):
    create_organization(stack, "Woodgrove", "boss@woodgrove.test", "woodgrove", users=20, groups=3)
    shot = Screenshots("directory-woodgrove")
    log_in(page, stack, "boss@woodgrove.test", PORTAL_PASSWORD)
    grant(page, shot, "woodgrove")
    wait_for_success(page, shot)

    stack.control("POST", "tenants/woodgrove/faults", {"throttle_next": 1, "throttle_retry_after": 30})
    open_service_status(page)
    page.get_by_role("button", name="Sync now").click()
    wait = page.locator("#sync-wait")
    expect(wait).to_contain_text("Microsoft asked us to wait 30 s", timeout=SYNC_TIMEOUT)
    expect(wait).to_contain_text(re.compile(r"Resuming at \d\d:\d\d:\d\d UTC"))
    at_each_width(page, "throttled")
    stack.control("POST", "tenants/woodgrove/faults", {"reset": True})


def test_the_picker_finds_users_and_groups_by_their_words_and_selects_all(page: Page, stack: Stack):
    create_organization(stack, "Relecloud", "boss@relecloud.test", "relecloud", users=30, groups=4)
    group = control(stack, "relecloud", op="add_group", display_name="Team Sales EMEA")
    for n in (10, 2, 1):
        upn = f"seller{n}@relecloud.onmicrosoft.com"
        control(stack, "relecloud", op="add_user", user_principal_name=upn, display_name=f"Megan Seller {n}")
        control(stack, "relecloud", op="add_member", group=group["id"], user=upn)
    log_in(page, stack, "boss@relecloud.test", PORTAL_PASSWORD)
    grant(page, Screenshots("directory-relecloud"), "relecloud", certain=True)
    expect(page.get_by_role("heading", name="Choose the users to synchronize")).to_be_visible(timeout=SYNC_TIMEOUT)

    # A user by the words of the display name, in any order.
    page.get_by_label("Find users by name or sign-in name").fill("seller megan")
    page.get_by_role("button", name="Find users").click()
    found = page.get_by_role("group", name="Users found").get_by_role("checkbox", name=re.compile("@relecloud"))
    expect(found).to_have_count(3)
    page.get_by_label(re.compile("^seller2@")).check()
    expect(page.get_by_role("button", name="Add selected users (1)")).to_be_visible()
    at_each_width(page, "picker-users-found")
    page.get_by_role("button", name="Add selected users (1)").click()
    expect(page.get_by_role("alert").filter(has_text="1 user added.")).to_be_visible()

    # A group by a word in the middle of its name; its members in reading order; Select all.
    page.get_by_label("Search groups").fill("sales")
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_role("link", name="Team Sales EMEA").click()
    members = page.get_by_role("group", name="Members of the group")
    labels = [text.split(" ")[0] for text in members.locator("label.text-break").all_inner_texts()]
    assert labels == [f"seller{n}@relecloud.onmicrosoft.com" for n in (1, 2, 10)]
    expect(page.get_by_text("3 users; 2 not chosen yet.")).to_be_visible()
    page.get_by_label("Select all").check()
    expect(page.get_by_role("button", name="Add selected users (2)")).to_be_visible()
    expect(page.get_by_role("button", name="Add all 2 users not chosen yet")).to_be_visible()
    at_each_width(page, "picker-group-members")
    page.get_by_role("button", name="Add selected users (2)").click()
    expect(page.get_by_role("heading", name="Chosen users (3 of 100)")).to_be_visible()
    at_each_width(page, "picker-chosen")
