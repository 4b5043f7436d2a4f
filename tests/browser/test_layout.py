"""Every page the browser suite visits, at a phone's, a laptop's and a desktop's width: no page scrolls
sideways, Account and Log out stay in reach, and axe-core finds no serious or critical violation.

axe-core is the npm package's own build, vendored in tests/browser/vendor/ and injected into each page.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.stack import SCREENSHOTS, Screenshots, Stack
from tests.browser.test_grant_in_browser import PORTAL_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
WIDTHS = (390, 1024, 1440)
ORGANIZATION_PAGES = (
    "",
    "service-status/",
    "services/exchange-online/grant/",
    "directory/",
    "directory/groups/",
    "directory/?account=enabled&license=licensed",
    "services/exchange-online/progress/",
    "sync-history/",
    "policies/",
    "activity/",
    "members/",
)
OTHER_PAGES = ("/account/", "/no-such-page/")
BLOCKING_IMPACTS = ("serious", "critical")
# Two animation frames: the layout after a change of width has settled.
SETTLED = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"


@pytest.fixture
def wide_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Page]:
    # axe is injected as a script: the portal's Content-Security-Policy allows only its own scripts.
    context = browser.new_context(viewport={"width": request.param, "height": 900}, locale="en-US", bypass_csp=True)
    context.set_default_timeout(20_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def horizontal_overflow(page: Page) -> int:
    overflow: int = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    return overflow


# The innermost elements whose right edge passes the viewport's: what a failure names.
WIDEST_ELEMENTS = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
  .filter(e => ![...e.children].some(c => c.getBoundingClientRect().right > window.innerWidth + 0.5))
  .slice(0, 3)
  .map(e => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}${e.className ? '.' + [...e.classList].join('.') : ''}`
    + ` "${(e.textContent || '').trim().slice(0, 60)}"`)"""


def overflow_problem(page: Page, name: str) -> str | None:
    """'NAME scrolls N px sideways: the elements that pass the edge', or None when the page fits."""
    overflow = horizontal_overflow(page)
    if overflow <= 0:
        return None
    culprits: list[str] = page.evaluate(WIDEST_ELEMENTS)
    return f"{name} scrolls {overflow} px sideways: {'; '.join(culprits)}"


def serious_violations(page: Page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    violations: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, targets: v.nodes.map(n => n.target.join(' '))}))"
    )
    return [
        f"{v['id']} ({v['impact']}): {', '.join(v['targets'][:3])}"
        for v in violations
        if v["impact"] in BLOCKING_IMPACTS
    ]


def at_each_width(page: Page, name: str) -> None:
    """The screen as it is at a phone's, a laptop's and a desktop's width: it fits, it passes axe, and a full-page
    screenshot of each is kept (var/screenshots/NAME-WIDTH.png)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.evaluate(SETTLED)
        overflow = overflow_problem(page, f"{name} at {width} px")
        if overflow:
            problems.append(overflow)
        problems += [f"{name} at {width} px: {violation}" for violation in serious_violations(page)]
        page.screenshot(path=SCREENSHOTS / f"{name}-{width}.png")
        page.screenshot(path=SCREENSHOTS / f"{name}-{width}-full.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    assert problems == []


def check_page(page: Page, shot: Screenshots, name: str) -> list[str]:
    problems = []
    overflow = overflow_problem(page, name)
    if overflow:
        problems.append(overflow)
    problems += [f"{name}: {violation}" for violation in serious_violations(page)]
    shot(page, name.strip("/").replace("/", "-") or "dashboard")
    return problems


def account_menu_reachable(page: Page) -> None:
    navigation = page.get_by_role("navigation", name="Main navigation")
    toggler = navigation.get_by_role("button", name="Toggle navigation")
    if toggler.is_visible():
        toggler.click()
    navigation.get_by_role("button", name="admin@contoso.test").click()
    expect(navigation.get_by_role("link", name="Account")).to_be_in_viewport()
    expect(navigation.get_by_role("button", name="Log out")).to_be_in_viewport()


@pytest.mark.parametrize("wide_page", WIDTHS, indirect=True, ids=[f"{w}px" for w in WIDTHS])
def test_pages_fit_the_width_and_pass_axe(wide_page: Page, stack: Stack) -> None:
    page = wide_page
    width = page.viewport_size["width"] if page.viewport_size else 0
    shot = Screenshots(f"layout-{width}")
    problems: list[str] = []

    page.goto(f"{stack.portal_url}/accounts/login/")
    problems += check_page(page, shot, "login")
    page.get_by_label("Email").fill("admin@contoso.test")
    page.get_by_label("Password").fill(PORTAL_PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("heading", name="Dashboard", exact=False)).to_be_visible()

    for path in ORGANIZATION_PAGES:
        response = page.goto(f"{stack.portal_url}/o/contoso/{path}")
        assert response is not None
        assert response.ok, f"{path}: HTTP {response.status}"
        problems += check_page(page, shot, path or "dashboard")
    account_menu_reachable(page)
    for path in OTHER_PAGES:
        page.goto(f"{stack.portal_url}{path}")
        problems += check_page(page, shot, path)

    assert problems == []
