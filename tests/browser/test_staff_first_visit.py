"""Support staff's first visit to Django admin in a real browser: each of the six steps (password, enrolment link,
password once more, authenticator app, recovery codes, a code) is named where it is asked, from one template; the
recovery codes read as a form and lead on to Django admin; a new administrator's set-password page says what it is
and ends at the sign-in. At a phone's and a desktop's width, with no sideways scroll and no serious axe violation."""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value, yield_hotp_counters_from_time
from playwright.sync_api import Page, expect

from tests.browser.stack import Screenshots, Stack
from tests.browser.test_grant_in_browser import PORTAL_PASSWORD
from tests.browser.test_grant_screens import axe_ready_page, check_widths

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

STAFF = "newcomer@casportal.test"
ADMIN_PAGES = (
    "",
    "tenants/organization/",
    "tenants/organization/?q=northwind",
    "tenants/protectedservice/",
    "audit/auditevent/",
    "provisioning/syncrun/",
    "provisioning/syncsettings/",
    "accounts/user/add/",
)


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    with axe_ready_page(browser) as fresh:
        yield fresh


def current_code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, next(yield_hotp_counters_from_time())))


def step_note(page: Page, number: int):
    return page.get_by_role("note", name="Two-factor set-up for staff").filter(
        has_text=f"Two-factor set-up for staff, step {number} of 6"
    )


def test_the_first_admin_visit_names_each_step_once_and_ends_in_django_admin(page: Page, stack: Stack) -> None:
    stack.manage(
        "shell",
        "-c",
        "from accounts.models import User; from allauth.account.models import EmailAddress; "
        f"user = User.objects.create_user(email={STAFF!r}, password={PORTAL_PASSWORD!r}, is_staff=True, "
        "is_superuser=True); EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)",
    )
    issued = stack.manage("issue_staff_enrolment", STAFF)
    link = re.sub(r"^https?://[^/]+", stack.portal_url, re.findall(r"https?://\S+", issued)[-1])
    shot = Screenshots("staff")
    problems: list[str] = []

    # 1. The password: Django admin sends staff without an authenticator to the page listing every step.
    page.goto(f"{stack.portal_url}/admin/")
    page.get_by_label("Email").fill(STAFF)
    page.get_by_label("Password").fill(PORTAL_PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    steps = page.get_by_role("note", name="Two-factor set-up for staff").get_by_role("listitem")
    expect(steps).to_have_count(6)
    expect(steps.nth(0)).to_contain_text("Done.")
    expect(steps.nth(1)).to_contain_text(f"python manage.py issue_staff_enrolment {STAFF}")
    problems += check_widths(page, shot, "enrolment-page")

    # 2. The link.
    page.goto(link)
    expect(steps).to_have_count(6)
    expect(page.get_by_role("listitem").and_(page.locator("[aria-current=step]"))).to_contain_text(
        "Your enrolment link."
    )
    problems += check_widths(page, shot, "enrolment-link")
    page.get_by_role("button", name="Set up two-factor authentication").click()

    # 3. The password once more, said to be that step.
    expect(step_note(page, 3)).to_contain_text("Your password once more.")
    problems += check_widths(page, shot, "password-again")
    page.get_by_label("Password").fill(PORTAL_PASSWORD)
    page.get_by_role("button", name="Confirm").click()

    # 4. The authenticator app.
    expect(step_note(page, 4)).to_contain_text("Your authenticator app.")
    problems += check_widths(page, shot, "authenticator")
    secret = page.locator("#authenticator_secret").input_value()
    page.get_by_label("Authenticator code").fill(current_code(secret))
    page.get_by_role("button", name="Activate").click()

    # 5. The recovery codes: their label above them, and the way on.
    expect(step_note(page, 5)).to_contain_text("Your recovery codes.")
    label, codes = page.get_by_text("Unused codes", exact=True), page.get_by_label("Unused codes")
    expect(codes).to_be_visible()
    label_box, codes_box = label.bounding_box(), codes.bounding_box()
    assert label_box is not None
    assert codes_box is not None
    assert label_box["y"] + label_box["height"] <= codes_box["y"], "the label sits above the codes"
    assert len(codes.input_value().split()) == 10
    problems += check_widths(page, shot, "recovery-codes")
    page.get_by_role("link", name="Continue to Django admin").click()

    # 6. A code from the app, then Django admin.
    expect(step_note(page, 6)).to_contain_text("A code from the app.")
    problems += check_widths(page, shot, "code")
    page.get_by_label("Code").fill(current_code(secret))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name=re.compile("Site administration"))).to_be_visible()

    problems += django_admin_problems(page, stack, shot)
    assert not problems, "\n".join(problems)


def django_admin_problems(page: Page, stack: Stack, shot: Screenshots) -> list[str]:
    """Django admin as support meets it after the set-up: lists, a search, change forms, a support action's reason
    page; what is wrong on any of them at either width."""
    stack.manage("create_organization", "Northwind Admin Check", "--admin", "first@northwind-admin.test")
    problems = []
    for path in ADMIN_PAGES:
        response = page.goto(f"{stack.portal_url}/admin/{path}")
        assert response is not None
        assert response.ok, f"{path}: HTTP {response.status}"
        problems += check_widths(
            page, shot, "admin-" + (path.strip("/").replace("/", "-").replace("?q=", "-") or "index")
        )
    page.goto(f"{stack.portal_url}/admin/tenants/organization/?q=northwind")
    page.get_by_role("table").get_by_role("link", name="Northwind Admin Check").click()
    problems += check_widths(page, shot, "admin-organization-change")
    page.goto(f"{stack.portal_url}/admin/tenants/organization/?q=northwind")
    page.get_by_role("checkbox", name="Select this object for an action - Northwind Admin Check").check()
    page.locator("select[name=action]").select_option("sync_now")
    page.get_by_role("button", name="Go").click()
    expect(page.get_by_label("Reason")).to_be_visible()
    problems += check_widths(page, shot, "admin-support-reason")
    return problems


def test_a_new_administrators_set_password_page_says_so_and_ends_at_the_sign_in(page: Page, stack: Stack) -> None:
    created = stack.manage("create_organization", "Adventure Works", "--admin", "first@adventure-works.test")
    link = re.sub(r"^https?://[^/]+", stack.portal_url, re.findall(r"https?://\S+", created)[-1])
    shot = Screenshots("first-password")
    page.goto(link)
    expect(page.get_by_role("heading", name="Choose your password")).to_be_visible()
    expect(page.get_by_text("Change Password")).to_have_count(0)
    problems = check_widths(page, shot, "set-password")
    page.get_by_label("New Password:", exact=True).fill("a long new password 9")
    page.get_by_label("New Password (again):", exact=True).fill("a long new password 9")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("heading", name="Your password is set")).to_be_visible()
    expect(page.get_by_text("Password successfully changed.")).to_have_count(0)
    problems += check_widths(page, shot, "password-set")
    page.get_by_role("link", name="Sign in").click()
    page.get_by_label("Email").fill("first@adventure-works.test")
    page.get_by_label("Password").fill("a long new password 9")
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("heading", name=re.compile("^Dashboard"))).to_be_visible()
    assert not problems, "\n".join(problems)
