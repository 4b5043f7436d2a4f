"""The grant's wait for Microsoft in a real browser, against a tenant seeded with a consent propagation of a few
seconds per phase: the page says what it waits for and for how long against the budget, updates by itself, and
ends in the synchronization. Screenshots at a phone's and a laptop's width."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.stack import Screenshots, Stack
from tests.browser.test_grant_in_browser import (
    PORTAL_PASSWORD,
    create_organization,
    expect_protected,
    log_in,
    open_service_status,
    sign_in_and_accept,
    wait_for_success,
)
from tests.browser.test_layout import overflow_problem

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

# Seconds without a service principal, without the roles, refused by Graph (m365sim_seed's options).
PROPAGATION = (
    "--token-propagation-seconds",
    "3",
    "--consent-propagation-seconds",
    "8",
    "--graph-propagation-seconds",
    "3",
)
PERMISSIONS = "Microsoft to give casportal the permissions you accepted"


def test_the_wait_says_what_microsoft_is_still_doing_and_for_how_long(page: Page, stack: Stack):
    create_organization(
        stack, "Tailspin", "boss@tailspin.test", "tailspin", users=20, groups=3, propagation=PROPAGATION
    )
    shot = Screenshots("tailspin")
    log_in(page, stack, "boss@tailspin.test", PORTAL_PASSWORD)
    open_service_status(page)
    page.get_by_role("link", name="Grant Access to Exchange Online").click()
    page.get_by_role("button", name="Grant Permission").click()
    sign_in_and_accept(page, shot, "admin@tailspin.onmicrosoft.com")

    state = page.get_by_role("status")
    expect(state).to_contain_text("Waiting for Microsoft to activate them")
    expect(state).to_contain_text(re.compile(r"\d+ s of up to 120 s"))
    # The polling brings each check's finding: the permissions phase lasts long enough to be seen.
    expect(state).to_contain_text(PERMISSIONS, timeout=15_000)
    expect(page.get_by_role("progressbar", name="Time waited, of the time allowed")).to_be_visible()
    shot(page, "waiting-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(state).to_contain_text("Now waiting for")
    assert overflow_problem(page, "the wait page") is None
    shot(page, "waiting-390")
    page.set_viewport_size({"width": 1280, "height": 800})

    wait_for_success(page, shot)
    expect_protected(page, shot, "Exchange Online")
