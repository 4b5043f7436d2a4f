"""Discovery, admin consent and the authorize endpoint, as MSAL and a browser see them."""

from urllib.parse import urlencode

import pytest
from django.conf import settings

from m365sim import tokens
from m365sim.models import ServicePrincipal
from m365sim.seed import seed_tenant
from tests.m365sim.browser import CONSENT_CALLBACK, IDENTITY_CALLBACK, callback_params, sign_in, submit

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])

ADMIN, PRA, ALEX = (f"{name}@contoso.onmicrosoft.com" for name in ("admin", "pra", "alex"))


def consent_url(m365sim, tenant="organizations", **overrides) -> str:
    params = {
        "client_id": settings.MICROSOFT_CLIENT_ID,
        "scope": "https://graph.microsoft.com/.default",
        "redirect_uri": CONSENT_CALLBACK,
        "state": "st",
        **overrides,
    }
    return f"{m365sim.url}/{tenant}/v2.0/adminconsent?{urlencode(params)}"


def authorize_url(m365sim, tenant, **overrides) -> str:
    params = {
        "client_id": settings.MICROSOFT_CLIENT_ID,
        "response_type": "code",
        "redirect_uri": IDENTITY_CALLBACK,
        "scope": "User.Read openid profile",
        "state": "st",
        "nonce": "n",
        "code_challenge": tokens.pkce_s256("verifier"),
        "code_challenge_method": "S256",
        **overrides,
    }
    return f"{m365sim.url}/{tenant}/oauth2/v2.0/authorize?{urlencode(params)}"


def test_discovery_sends_the_browser_to_the_simulator_and_msal_to_https(m365sim, contoso):
    for tenant in (str(contoso.id), "contoso.onmicrosoft.com"):
        config = m365sim.browser().get(f"{m365sim.url}/{tenant}/v2.0/.well-known/openid-configuration").json()
        assert config["authorization_endpoint"] == f"{m365sim.url}/{contoso.id}/oauth2/v2.0/authorize"
        assert config["token_endpoint"] == f"https://login.microsoftonline.com/{contoso.id}/oauth2/v2.0/token"
        assert config["issuer"] == f"https://login.microsoftonline.com/{contoso.id}/v2.0"
    organizations = m365sim.browser().get(f"{m365sim.url}/organizations/v2.0/.well-known/openid-configuration").json()
    assert organizations["issuer"] == "https://login.microsoftonline.com/{tenantid}/v2.0"

    unknown = m365sim.browser().get(f"{m365sim.url}/fabrikam.com/v2.0/.well-known/openid-configuration")
    assert unknown.status_code == 400
    assert unknown.json()["error_description"].startswith("AADSTS90002")


def test_admin_consent_by_a_global_administrator(m365sim, contoso, contoso_admin):
    browser = m365sim.browser()
    page = sign_in(browser, browser.get(consent_url(m365sim)), ADMIN)
    assert "Read all users&#x27; full profiles" in page.text
    assert "Accept" in page.text
    assert "Cancel" in page.text

    params = callback_params(submit(browser, page, "accept"), CONSENT_CALLBACK)

    assert params["admin_consent"] == "True"
    assert params["tenant"] == str(contoso.id)
    assert params["state"] == "st"
    sp = ServicePrincipal.objects.get()
    assert sp.has_admin_consent
    assert sp.consented_by == contoso_admin
    assert "Mail.ReadWrite" in sp.granted_roles


def test_a_privileged_role_administrator_may_consent_too(m365sim, contoso):
    browser = m365sim.browser()
    page = sign_in(browser, browser.get(consent_url(m365sim, tenant=str(contoso.id))), PRA)
    assert callback_params(submit(browser, page, "accept"), CONSENT_CALLBACK)["admin_consent"] == "True"


@pytest.mark.usefixtures("contoso")
def test_cancel_at_admin_consent_is_the_documented_decline(m365sim):
    browser = m365sim.browser()
    page = sign_in(browser, browser.get(consent_url(m365sim)), ADMIN)
    params = callback_params(submit(browser, page, "cancel"), CONSENT_CALLBACK)

    assert (params["admin_consent"], params["error"]) == ("True", "consent_required")
    assert params["error_description"].startswith("AADSTS65004: User declined to consent to access the app.")
    assert params["state"] == "st"
    assert "error_subcode" not in params
    assert not ServicePrincipal.objects.exists()


@pytest.mark.usefixtures("contoso")
def test_a_fault_makes_cancel_at_admin_consent_access_denied(m365sim):
    m365sim.control("POST", "tenants/contoso/faults", {"decline_as_access_denied": True})
    browser = m365sim.browser()
    page = sign_in(browser, browser.get(consent_url(m365sim)), ADMIN)
    params = callback_params(submit(browser, page, "cancel"), CONSENT_CALLBACK)

    assert (params["error"], params["error_subcode"]) == ("access_denied", "cancel")
    assert params["error_description"].startswith("AADSTS65004")
    assert params["state"] == "st"
    assert not ServicePrincipal.objects.exists()


def test_cancel_at_authorize_is_access_denied(m365sim, contoso):
    browser = m365sim.browser()
    page = sign_in(browser, browser.get(authorize_url(m365sim, str(contoso.id))), ALEX)
    params = callback_params(submit(browser, page, "cancel"), IDENTITY_CALLBACK)

    assert (params["error"], params["error_subcode"]) == ("access_denied", "cancel")
    assert params["error_description"].startswith("AADSTS65004")


@pytest.mark.usefixtures("contoso")
def test_a_regular_user_needs_admin_approval(m365sim):
    browser = m365sim.browser()
    page = sign_in(browser, browser.get(consent_url(m365sim)), ALEX)
    assert "Need admin approval" in page.text

    params = callback_params(submit(browser, page, "decline_not_admin"), CONSENT_CALLBACK)
    assert params["error"] == "access_denied"
    assert params["error_description"].startswith("AADSTS90094")
    assert not ServicePrincipal.objects.exists()


@pytest.mark.usefixtures("contoso")
def test_a_wrong_password_is_refused(m365sim):
    browser = m365sim.browser()
    page = browser.get(consent_url(m365sim))
    again = submit(browser, page, "signin", login=ADMIN, passwd="wrong")
    assert again.status_code == 200
    assert "Your account or password is incorrect" in again.text


@pytest.mark.usefixtures("contoso")
def test_unknown_client_and_unregistered_redirect_uri_show_microsofts_error_page(m365sim):
    browser = m365sim.browser()
    unknown = browser.get(consent_url(m365sim, client_id="11111111-1111-1111-1111-111111111111"))
    assert unknown.status_code == 400
    assert "AADSTS700016" in unknown.text
    unregistered = browser.get(consent_url(m365sim, redirect_uri="https://evil.example/cb"))
    assert unregistered.status_code == 400
    assert "AADSTS50011" in unregistered.text


@pytest.mark.usefixtures("contoso")
def test_a_tampered_form_is_refused(m365sim):
    browser = m365sim.browser()
    browser.get(consent_url(m365sim))
    response = browser.post(consent_url(m365sim), data={"flowToken": "forged", "action": "accept"})
    assert response.status_code == 400


def test_authorize_asks_for_user_consent_without_admin_consent(m365sim, contoso):
    browser = m365sim.browser()
    page = sign_in(browser, browser.get(authorize_url(m365sim, str(contoso.id))), ALEX)
    assert "Sign in and read user profile" in page.text

    params = callback_params(submit(browser, page, "accept"), IDENTITY_CALLBACK)
    assert params["code"]
    assert params["state"] == "st"

    silent = browser.get(authorize_url(m365sim, str(contoso.id), prompt="none"), allow_redirects=False)
    assert "code" in callback_params(silent, IDENTITY_CALLBACK)


def test_prompt_none_without_consent_is_consent_required(m365sim, contoso):
    browser = m365sim.browser()
    sign_in(browser, browser.get(authorize_url(m365sim, str(contoso.id))), ALEX)

    response = browser.get(authorize_url(m365sim, str(contoso.id), prompt="none"), allow_redirects=False)
    params = callback_params(response, IDENTITY_CALLBACK)
    assert params["error"] == "consent_required"
    assert params["error_description"].startswith("AADSTS65001")


@pytest.mark.usefixtures("contoso_consented")
def test_select_account_shows_the_signed_in_account(m365sim):
    browser = m365sim.browser()
    sign_in(browser, browser.get(authorize_url(m365sim, "organizations")), ADMIN)

    page = browser.get(authorize_url(m365sim, "organizations", prompt="select_account"))
    assert "Pick an account" in page.text
    assert ADMIN in page.text
    assert "code" in callback_params(submit(browser, page, "continue"), IDENTITY_CALLBACK)


def test_pkce_with_s256_is_required(m365sim, contoso):
    response = m365sim.browser().get(
        authorize_url(m365sim, str(contoso.id), code_challenge_method="plain"), allow_redirects=False
    )
    params = callback_params(response, IDENTITY_CALLBACK)
    assert params["error"] == "invalid_request"


@pytest.mark.usefixtures("contoso_consented")
def test_form_post_response_mode(m365sim):
    browser = m365sim.browser()
    page = sign_in(browser, browser.get(authorize_url(m365sim, "organizations", response_mode="form_post")), ADMIN)

    assert page.status_code == 200
    assert f'action="{IDENTITY_CALLBACK}"' in page.text
    assert 'name="code"' in page.text
    assert 'name="state" value="st"' in page.text


@pytest.mark.usefixtures("contoso")
def test_a_user_of_another_tenant_is_refused(m365sim):
    fabrikam = seed_tenant("fabrikam", users=1, groups=0, members_per_group=0).tenant
    browser = m365sim.browser()
    page = sign_in(browser, browser.get(authorize_url(m365sim, str(fabrikam.id))), ADMIN)
    assert page.status_code == 400
    assert "AADSTS50020" in page.text


@pytest.mark.usefixtures("contoso")
def test_an_administrator_can_take_over_from_need_admin_approval(m365sim):
    browser = m365sim.browser()
    page = sign_in(browser, browser.get(consent_url(m365sim)), ALEX)
    page = sign_in(browser, submit(browser, page, "switch_account"), ADMIN)
    assert "Permissions requested" in page.text
