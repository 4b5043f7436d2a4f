"""The two grant legs and app-only access, with the portal's own clients against the simulator."""

import uuid

import msal
import pytest

from microsoft import errors, identity
from microsoft.graph import GraphClient
from tests.m365sim.browser import IDENTITY_CALLBACK, admin_consent, callback_params, submit

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


@pytest.fixture
def consented(m365sim, contoso):  # noqa: ARG001 (needed for its side effect: fixtures cannot take usefixtures)
    browser = m365sim.browser()
    url = identity.admin_consent_url(redirect_uri="http://127.0.0.1:8000/grant/consent/callback/", state="leg-1")
    params = admin_consent(browser, url, "admin@contoso.onmicrosoft.com")
    return browser, identity.parse_admin_consent(params, expected_state="leg-1")


def test_consent_then_silent_identity_leg_then_app_only_access(consented, contoso):
    browser, consent = consented
    assert consent.tenant_id == str(contoso.id)
    assert "https://graph.microsoft.com/User.Read.All" in consent.scopes

    flow = identity.start_identity_leg(tenant_id=consent.tenant_id, redirect_uri=IDENTITY_CALLBACK)
    # prompt=none: Microsoft's session from the consent leg signs the admin in; no second sign-in, no consent screen.
    params = callback_params(browser.get(flow["auth_uri"], allow_redirects=False), IDENTITY_CALLBACK)
    admin = identity.finish_identity_leg(flow, params, tenant_id=consent.tenant_id)

    assert admin.tenant_id == consent.tenant_id
    assert admin.username == "admin@contoso.onmicrosoft.com"
    assert admin.is_global_admin

    token = identity.acquire_app_token(consent.tenant_id, fresh=True)
    assert token.tenant_id == consent.tenant_id
    details = GraphClient(consent.tenant_id).tenant_details()
    assert details.id == consent.tenant_id
    assert "contoso.onmicrosoft.com" in {d.name for d in details.verified_domains}


def test_prompt_none_without_a_session_is_login_required(m365sim, contoso):
    flow = identity.start_identity_leg(tenant_id=str(contoso.id), redirect_uri=IDENTITY_CALLBACK)
    params = callback_params(m365sim.browser().get(flow["auth_uri"], allow_redirects=False), IDENTITY_CALLBACK)

    assert params["error"] == "login_required"
    assert params["error_description"].startswith("AADSTS50058")
    with pytest.raises(errors.InteractionRequired):
        identity.finish_identity_leg(flow, params, tenant_id=str(contoso.id))


def test_forged_state_is_refused(consented):
    browser, consent = consented
    flow = identity.start_identity_leg(tenant_id=consent.tenant_id, redirect_uri=IDENTITY_CALLBACK)
    params = callback_params(browser.get(flow["auth_uri"], allow_redirects=False), IDENTITY_CALLBACK)

    with pytest.raises(errors.InvalidState):
        identity.finish_identity_leg(flow, {**params, "state": "forged"}, tenant_id=consent.tenant_id)
    with pytest.raises(errors.InvalidState):
        identity.parse_admin_consent(
            {"admin_consent": "True", "tenant": consent.tenant_id, "state": "x"}, expected_state="leg-1"
        )


def test_replayed_code_is_refused(consented):
    browser, consent = consented
    flow = identity.start_identity_leg(tenant_id=consent.tenant_id, redirect_uri=IDENTITY_CALLBACK)
    params = callback_params(browser.get(flow["auth_uri"], allow_redirects=False), IDENTITY_CALLBACK)
    identity.finish_identity_leg(flow, params, tenant_id=consent.tenant_id)

    with pytest.raises(errors.IdentityError) as excinfo:
        identity.finish_identity_leg(flow, params, tenant_id=consent.tenant_id)
    assert excinfo.value.code == 54005


def test_interactive_identity_leg_signs_in_again(consented):
    browser, consent = consented
    flow = identity.start_identity_leg(tenant_id=consent.tenant_id, redirect_uri=IDENTITY_CALLBACK, prompt="login")
    page = browser.get(flow["auth_uri"])
    assert "Sign in" in page.text
    response = submit(browser, page, "signin", login="admin@contoso.onmicrosoft.com", passwd="m365-demo")
    admin = identity.finish_identity_leg(
        flow, callback_params(response, IDENTITY_CALLBACK), tenant_id=consent.tenant_id
    )
    assert admin.is_global_admin


def test_an_id_token_of_another_tenant_is_a_tenant_mismatch(consented, monkeypatch):
    browser, consent = consented
    flow = identity.start_identity_leg(tenant_id=consent.tenant_id, redirect_uri=IDENTITY_CALLBACK)
    params = callback_params(browser.get(flow["auth_uri"], allow_redirects=False), IDENTITY_CALLBACK)
    redeem = msal.ConfidentialClientApplication.acquire_token_by_auth_code_flow

    def from_elsewhere(self, *args, **kwargs):
        result = redeem(self, *args, **kwargs)
        result["id_token_claims"]["tid"] = str(uuid.uuid4())
        return result

    monkeypatch.setattr(msal.ConfidentialClientApplication, "acquire_token_by_auth_code_flow", from_elsewhere)
    with pytest.raises(errors.TenantMismatch) as excinfo:
        identity.finish_identity_leg(flow, params, tenant_id=consent.tenant_id)
    assert isinstance(excinfo.value, errors.SignInFailed)
