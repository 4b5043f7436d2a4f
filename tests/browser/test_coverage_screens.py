"""What the admin sees of coverage, in a real browser against the stack `make run` starts: Service Status once the
verification that follows the first sync has run, All organizations, and the Exchange Online Coverage page with
each state's reason and fix, its filters and its pages. Each screen at a phone's and a desktop's width: no sideways
scroll, no serious axe-core violation."""

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser import test_layout as layout
from tests.browser.stack import Screenshots, Stack
from tests.browser.test_grant_in_browser import (
    PORTAL_PASSWORD,
    create_organization,
    log_in,
    open_service_status,
    service_row,
    sign_in_and_accept,
    wait_for_success,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

TENANT = "wingtip"
VERIFICATION_TIMEOUT = 60_000


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
    layout.at_each_width(page, f"coverage-{name}")


def licensed_users(stack: Stack) -> list[str]:
    """The simulated tenant's enabled, licensed users, by user principal name."""
    out = stack.manage(
        "shell",
        "-c",
        "import json; from m365sim.models import User; "
        f"print(json.dumps(sorted(User.objects.filter(tenant__slug={TENANT!r}, account_enabled=True)"
        ".exclude(assigned_licenses=[]).values_list('user_principal_name', flat=True))))",
    )
    return list(json.loads(out.strip().splitlines()[-1]))


def tenant_with_uncovered_mailboxes(stack: Stack) -> list[str]:
    """Wingtip's tenant: 3 licensed users without a mailbox, 2 in a group an access policy denies casportal."""
    create_organization(stack, "Wingtip Toys", "boss@wingtip.test", TENANT, users=70, groups=4)
    upns = licensed_users(stack)
    directory = f"tenants/{TENANT}/directory"
    for upn in upns[:3]:
        stack.control("POST", directory, {"op": "set_mailbox", "user": upn, "state": "none"})
    denied = stack.control("POST", directory, {"op": "add_group", "display_name": "No scanning", "mail_enabled": True})
    for upn in upns[3:5]:
        stack.control("POST", directory, {"op": "add_member", "group": denied["id"], "user": upn})
    stack.control(
        "POST",
        f"tenants/{TENANT}/access-policies",
        {"action": "apply", "group": denied["id"], "access_right": "DenyAccess", "delay_seconds": 0},
    )
    return upns


def grant_exchange_online(page: Page, stack: Stack) -> None:
    shot = Screenshots("coverage-wingtip")
    log_in(page, stack, "boss@wingtip.test", PORTAL_PASSWORD)
    open_service_status(page)
    page.get_by_role("link", name="Grant Access to Exchange Online").click()
    page.get_by_role("button", name="Grant Permission").click()
    sign_in_and_accept(page, shot, f"admin@{TENANT}.onmicrosoft.com")
    wait_for_success(page, shot)


def test_the_coverage_page_explains_each_state_at_both_widths(page: Page, stack: Stack):
    upns = tenant_with_uncovered_mailboxes(stack)
    grant_exchange_online(page, stack)

    # The sync's success starts the verification: Service Status tells its coverage once it has run (the state
    # before it, "Coverage not verified yet", is tests/coverage/test_pages.py's).
    open_service_status(page)
    badge = service_row(page, "Exchange Online").get_by_role(
        "link", name=re.compile(r"^Protected · \d+ of \d+ mailboxes$")
    )
    for _ in range(30):
        if badge.count():
            break
        page.wait_for_timeout(2_000)
        page.reload()
    expect(badge).to_be_visible(timeout=VERIFICATION_TIMEOUT)
    at_each_width(page, "status-verified")
    page.goto(f"{stack.portal_url}/organizations/")
    expect(page.get_by_role("row").filter(has_text="Wingtip Toys")).to_contain_text(
        re.compile(r"Protected\s*\d+/\d+ mailboxes covered: Exchange Online in Wingtip Toys")
    )
    at_each_width(page, "all-organizations")
    page.go_back()

    badge.click()
    expect(page.get_by_role("heading", name="Exchange Online coverage")).to_be_visible()
    expect(page.locator("#coverage-figure")).to_have_text(re.compile(r"^\d+ of \d+ mailboxes covered\.$"))
    expect(page.locator("#state-no-mailbox")).to_contain_text("Microsoft 365 has no Exchange Online mailbox")
    refused = page.locator("#state-policy-refused")
    expect(refused).to_contain_text("Refused by an application access policy: 2")
    expect(refused).to_contain_text("RestrictAccess")
    expect(refused).to_contain_text("DenyAccess")
    expect(refused).to_contain_text("Test-ApplicationAccessPolicy -Identity <user> -AppId ")
    expect(page.get_by_role("navigation", name="Pages of mailboxes")).to_contain_text("Page 1 of 2")
    at_each_width(page, "exchange")

    page.get_by_label("State", exact=True).select_option(label="Refused by an application access policy")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#coverage-list-total")).to_have_text("2 mailboxes match.")
    names = page.get_by_role("table").get_by_role("rowheader").all_inner_texts()
    assert sorted(name.strip() for name in names) == sorted(upns[3:5])
    at_each_width(page, "exchange-refused")
