"""Choosing another account: /authorize honours prompt=select_account and login_hint; /adminconsent, which
documents neither, ignores prompt and login_hint."""

import re

import pytest

from tests.m365sim.browser import CONSENT_CALLBACK, IDENTITY_CALLBACK, callback_params, sign_in, submit
from tests.m365sim.test_browser_endpoints import ADMIN, PRA, authorize_url, consent_url

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


def prefilled(page) -> str:
    match = re.search(r'name="login" value="([^"]*)"', page.text)
    assert match, page.text[:500]
    return match.group(1)


@pytest.fixture
def signed_in_as_pra(m365sim, contoso_consented):  # noqa: ARG001 (needed for its side effect)
    browser = m365sim.browser()
    sign_in(browser, browser.get(consent_url(m365sim)), PRA)
    return browser


def test_select_account_offers_another_account_and_the_hint_prefills_its_sign_in(m365sim, signed_in_as_pra):
    browser = signed_in_as_pra
    picker = browser.get(authorize_url(m365sim, "organizations", prompt="select_account", login_hint=ADMIN))
    assert "Pick an account" in picker.text
    assert PRA in picker.text

    page = submit(browser, picker, "switch_account")
    assert "Sign in" in page.text
    assert prefilled(page) == ADMIN
    code = callback_params(sign_in(browser, page, ADMIN), IDENTITY_CALLBACK)
    assert code["code"]


def test_without_a_session_select_account_signs_in_with_the_hint_prefilled(m365sim, contoso_consented):  # noqa: ARG001
    page = m365sim.browser().get(authorize_url(m365sim, "organizations", prompt="select_account", login_hint=ADMIN))
    assert "Sign in" in page.text
    assert prefilled(page) == ADMIN


@pytest.mark.parametrize("prompt", ["select_account", "login"])
def test_admin_consent_ignores_prompt(m365sim, signed_in_as_pra, prompt):
    page = signed_in_as_pra.get(consent_url(m365sim, prompt=prompt, login_hint=ADMIN))
    assert "Permissions requested" in page.text
    assert PRA in page.text
    assert "Pick an account" not in page.text


def test_admin_consent_ignores_prompt_none_and_login_hint(m365sim, contoso):  # noqa: ARG001
    browser = m365sim.browser()
    page = browser.get(consent_url(m365sim, prompt="none", login_hint=ADMIN), allow_redirects=False)
    assert page.status_code == 200  # the sign-in page, not login_required sent back
    assert prefilled(page) == ""
    consent = sign_in(browser, page, ADMIN)
    assert callback_params(submit(browser, consent, "accept"), CONSENT_CALLBACK)["admin_consent"] == "True"
