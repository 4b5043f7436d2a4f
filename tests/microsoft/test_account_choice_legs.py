"""The portal's clients ask for an account choice where Microsoft honours it: on the identity leg
(prompt=select_account, login_hint), and send a connected organization's consent to its own tenant."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings

from microsoft import identity
from tests.m365sim.browser import CONSENT_CALLBACK, IDENTITY_CALLBACK, admin_consent, callback_params, sign_in, submit

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])

PRA, ADMIN = "pra@contoso.onmicrosoft.com", "admin@contoso.onmicrosoft.com"


def test_the_consent_leg_goes_to_organizations_or_to_the_connected_tenant(contoso):
    anyone = urlsplit(identity.admin_consent_url(redirect_uri=CONSENT_CALLBACK, state="s"))
    assert anyone.path == "/organizations/v2.0/adminconsent"
    bound = urlsplit(identity.admin_consent_url(redirect_uri=CONSENT_CALLBACK, state="s", tenant_id=str(contoso.id)))
    assert bound.path == f"/{contoso.id}/v2.0/adminconsent"
    assert f"{bound.scheme}://{bound.netloc}" == settings.MICROSOFT_LOGIN_HOST
    # Only what the admin-consent endpoint documents.
    assert set(parse_qs(bound.query)) == {"client_id", "scope", "redirect_uri", "state"}


def test_the_identity_leg_with_an_account_choice_lets_another_account_sign_in(m365sim, contoso):
    browser = m365sim.browser()
    consent = identity.parse_admin_consent(
        admin_consent(browser, identity.admin_consent_url(redirect_uri=CONSENT_CALLBACK, state="c"), PRA),
        expected_state="c",
    )
    flow = identity.start_identity_leg(
        tenant_id=consent.tenant_id, redirect_uri=IDENTITY_CALLBACK, prompt="select_account", login_hint=ADMIN
    )
    query = parse_qs(urlsplit(flow["auth_uri"]).query)
    assert (query["prompt"], query["login_hint"]) == (["select_account"], [ADMIN])

    picker = browser.get(flow["auth_uri"])  # signed in as the Privileged Role Administrator, yet asked
    assert "Pick an account" in picker.text
    page = submit(browser, picker, "switch_account")
    params = callback_params(sign_in(browser, page, ADMIN), IDENTITY_CALLBACK)
    admin = identity.finish_identity_leg(flow, params, tenant_id=str(contoso.id))
    assert admin.username == ADMIN
    assert admin.is_global_admin
