"""After a refusal for the account that signed in, the next grant lets the admin choose another account where
Microsoft honours it (the identity leg), and a connected organization consents in its own tenant."""

from urllib.parse import parse_qs, urlsplit

import pytest

from audit.models import Action, AuditEvent
from grant.models import GrantAttempt, GrantStep
from organizations.models import ProtectedService, ServiceStatus
from tests.grant_driver import GLOBAL_ADMIN
from tests.m365sim.browser import sign_in, submit

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])

PRA = "pra@contoso.onmicrosoft.com"


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def identity_leg(driver, kind: str = "exchange-online", login: str = PRA) -> str:
    """Grant Permission and consent at Microsoft as `login`; where the portal sends the browser next."""
    started = driver.start(kind)
    after_consent = driver.portal("get", driver.consent(started["Location"], login))
    assert after_consent.status_code == 302
    return after_consent["Location"]


def refused_as_not_global_admin(driver, kind: str = "exchange-online") -> None:
    response = driver.grant(kind, login=PRA)
    assert response.status_code == 400
    assert "is not a Global Administrator" in response.content.decode()


def choose_the_global_administrator(driver, authorize_url: str):
    picker = driver.browser.get(authorize_url)
    assert "Pick an account" in picker.text  # Microsoft's session is the refused account's: the picker still shows
    page = submit(driver.browser, picker, "switch_account")
    callback = sign_in(driver.browser, page, GLOBAL_ADMIN)
    assert callback.status_code == 302
    return driver.portal("get", callback.headers["Location"])


def test_after_a_wrong_account_the_identity_leg_offers_the_account_picker_and_the_right_one_succeeds(cast, driver):
    refused_as_not_global_admin(driver)

    url = identity_leg(driver)
    assert query(url)["prompt"] == ["select_account"]
    assert "login_hint" not in query(url)  # nothing connected yet: no account is known
    response = choose_the_global_administrator(driver, url)
    assert response.status_code == 302
    service = ProtectedService.objects.get(organization=cast.organization, kind="exchange-online")
    assert service.status == ServiceStatus.PROVISIONING
    assert service.authorized_account == GLOBAL_ADMIN
    consented = AuditEvent.objects.filter(action=Action.GRANT_CONSENTED).order_by("occurred_at")
    assert [event.details["account_choice"] for event in consented] == [False, True]


def test_a_connected_organization_consents_in_its_tenant_and_is_offered_its_known_account(
    cast, driver, contoso, m365sim
):
    assert driver.grant().status_code == 302
    driver.tasks.run()
    driver.browser = m365sim.browser()  # another browser, where the Privileged Role Administrator signs in
    refused_as_not_global_admin(driver, "sharepoint-online")

    started = driver.start("sharepoint-online")
    assert urlsplit(started["Location"]).path == f"/{contoso.id}/v2.0/adminconsent"
    assert {"prompt", "login_hint"}.isdisjoint(query(started["Location"]))  # the admin-consent endpoint takes neither
    after_consent = driver.portal("get", driver.consent(started["Location"], PRA))
    url = after_consent["Location"]
    assert query(url)["prompt"] == ["select_account"]
    assert query(url)["login_hint"] == [GLOBAL_ADMIN]
    assert choose_the_global_administrator(driver, url).status_code == 302
    assert ProtectedService.objects.get(organization=cast.organization, kind="sharepoint-online").status in (
        ServiceStatus.PROVISIONING,
        ServiceStatus.PROTECTED,
    )


def test_after_a_refusal_of_another_kind_the_identity_leg_stays_silent(driver, contoso):
    contoso.token_failures_next = 10
    contoso.save(update_fields=["token_failures_next"])
    assert driver.grant().status_code == 400  # Microsoft did not answer: nothing to do with the account
    contoso.token_failures_next = 0
    contoso.save(update_fields=["token_failures_next"])
    assert GrantAttempt.objects.get().step == GrantStep.REFUSED

    assert query(identity_leg(driver, login=GLOBAL_ADMIN))["prompt"] == ["none"]


def test_the_first_grant_signs_in_silently(driver):
    assert query(identity_leg(driver, login=GLOBAL_ADMIN))["prompt"] == ["none"]
