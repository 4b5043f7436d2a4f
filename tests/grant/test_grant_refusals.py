"""Every way a grant is refused: a page that says what happened, nothing bound, an audit event."""

import datetime as dt
import time
import uuid

import msal
import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from audit.models import Action, AuditEvent
from connection.credential import record_credential_accepted, record_credential_rejected
from connection.models import AppCredentialHealth, CredentialStatus, ServiceAccount
from grant.models import GrantAttempt, GrantStep
from m365sim import services as sim
from m365sim.models import Application, RoleAssignment, ServicePrincipal
from m365sim.models import Tenant as SimTenant
from m365sim.models import User as SimUser
from m365sim.seed import seed_tenant
from microsoft import identity
from organizations.models import Organization, ProtectedService, Role, ServiceStatus
from tests.factories import MembershipFactory, OrganizationFactory
from tests.grant_driver import portal_client
from tests.m365sim.browser import sign_in

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


def page_text(response) -> str:
    return response.content.decode()


def assert_nothing_bound(cast) -> None:
    cast.organization.refresh_from_db()
    assert cast.organization.microsoft_tenant_id is None
    assert not ServiceAccount.objects.exists()
    assert set(ProtectedService.objects.filter(organization=cast.organization).values_list("status", flat=True)) == {
        ServiceStatus.NOT_GRANTED
    }


def refusal_reasons() -> list[str]:
    return [e.details.get("reason") for e in AuditEvent.objects.filter(action=Action.GRANT_REFUSED)]


EITHER_DECLINED = (
    "Microsoft reports that the permissions were not granted: either the administrator declined them, "
    "or the account that signed in is not an administrator and returned without consent."
)


def refused_at_consent(driver, login: str = "admin@contoso.onmicrosoft.com", action: str = "cancel"):
    started = driver.start()
    response = driver.portal("get", driver.consent(started["Location"], login, action=action))
    assert response.status_code == 400
    return response


def assert_filed_as_declined(cast, response) -> None:
    assert EITHER_DECLINED in page_text(response)
    assert "sign in as a Global Administrator and accept the permissions" in page_text(response)
    attempt = GrantAttempt.objects.get()
    assert (attempt.step, attempt.error) == (GrantStep.REFUSED, EITHER_DECLINED)
    assert refusal_reasons() == ["consent_declined"]
    assert_nothing_bound(cast)


def test_a_decline_in_the_documented_shape_is_filed_as_declined(cast, driver):
    assert_filed_as_declined(cast, refused_at_consent(driver))


def test_a_decline_as_access_denied_is_filed_as_declined(cast, driver, contoso):
    sim.set_faults(contoso, decline_as_access_denied=True)
    assert_filed_as_declined(cast, refused_at_consent(driver))


def test_a_non_administrator_who_returned_without_consent_is_told_both_what_and_what_to_do(cast, driver):
    response = refused_at_consent(driver, "alex@contoso.onmicrosoft.com", action="decline_not_admin")
    text = page_text(response)
    assert "the account that signed in may not grant these permissions (only a Global Administrator can)" in text
    assert "it returned without granting them" in text
    assert "If you are not an administrator of your Microsoft 365 tenant, ask a Global Administrator" in text
    assert "If you are one, try again and sign in with your Global Administrator account" in text
    assert GrantAttempt.objects.get().step == GrantStep.REFUSED
    assert refusal_reasons() == ["admin_approval_required"]
    assert_nothing_bound(cast)


def test_a_privileged_role_administrator_who_accepted_is_refused(cast, driver):
    response = driver.grant(login="pra@contoso.onmicrosoft.com")
    assert response.status_code == 400
    assert "is not a Global Administrator" in page_text(response)
    assert_nothing_bound(cast)
    assert refusal_reasons() == ["not_global_admin"]


def test_without_role_claims_the_role_is_checked_through_graph(cast, driver):
    Application.objects.update(emit_wids=False)
    response = driver.grant(login="pra@contoso.onmicrosoft.com")
    assert response.status_code == 400
    assert "is not a Global Administrator" in page_text(response)
    assert_nothing_bound(cast)


def test_without_role_claims_a_role_graph_cannot_list_is_could_not_check_never_not_an_administrator(
    cast, driver, contoso
):
    Application.objects.update(emit_wids=False)
    SimTenant.objects.filter(pk=contoso.pk).update(consent_propagation_seconds=600)
    response = driver.grant(login="admin@contoso.onmicrosoft.com")
    assert response.status_code == 302  # waiting for Microsoft to activate the permissions
    # Microsoft activates them, and then cannot list the role's members (404).
    ServicePrincipal.objects.update(admin_consented_at=timezone.now() - dt.timedelta(hours=1))
    RoleAssignment.objects.filter(role_template_id=identity.GLOBAL_ADMINISTRATOR).delete()
    driver.tasks.run()

    attempt = GrantAttempt.objects.get()
    assert attempt.step == GrantStep.REFUSED
    assert attempt.error.startswith("casportal could not check that admin@contoso.onmicrosoft.com")
    text = page_text(driver.portal("get", response["Location"]))
    assert "could not check that admin@contoso.onmicrosoft.com is a Global Administrator" in text
    assert "is not a Global Administrator" not in text
    assert_nothing_bound(cast)


def test_a_microsoft_tenant_bound_to_another_organization_is_refused(cast, driver, contoso):
    OrganizationFactory.create(name="Elsewhere").__class__.objects.filter(name="Elsewhere").update(
        microsoft_tenant_id=contoso.id
    )
    response = driver.grant()
    assert response.status_code == 400
    assert "This Microsoft 365 tenant is already registered by another organization." in page_text(response)
    assert_nothing_bound(cast)


def test_a_second_service_must_use_the_same_microsoft_tenant(cast, driver, m365sim, contoso):
    driver.grant()
    driver.tasks.run()
    seed_tenant("fabrikam", users=3, groups=1, members_per_group=2)
    fabrikam = SimTenant.objects.get(slug="fabrikam")
    fabrikam_admin = SimUser.objects.get(user_principal_name="admin@fabrikam.onmicrosoft.com")
    sim.grant_admin_consent(fabrikam, Application.objects.get(), user=fabrikam_admin)
    driver.browser = m365sim.browser()
    started = driver.start("sharepoint-online")
    # The connected organization consents in its own tenant: Microsoft itself turns an account of another away.
    assert f"/{contoso.id}/v2.0/adminconsent?" in started["Location"]
    at_microsoft = sign_in(driver.browser, driver.browser.get(started["Location"]), "admin@fabrikam.onmicrosoft.com")
    assert at_microsoft.status_code == 400
    assert "AADSTS50020" in at_microsoft.text
    # Brought back from another tenant all the same (through the multi-tenant endpoint), the portal refuses.
    elsewhere = started["Location"].replace(f"/{contoso.id}/", "/organizations/")
    response = driver.portal("get", driver.consent(elsewhere, "admin@fabrikam.onmicrosoft.com"))
    assert response.status_code == 400
    assert "different Microsoft 365 tenant" in page_text(response)
    cast.organization.refresh_from_db()
    assert cast.organization.microsoft_tenant_id == contoso.id
    assert (
        ProtectedService.objects.get(organization=cast.organization, kind="sharepoint-online").status
        == ServiceStatus.NOT_GRANTED
    )


def test_consent_propagation_delay_is_waited_out(cast, driver, contoso):
    SimTenant.objects.filter(pk=contoso.pk).update(consent_propagation_seconds=2)
    response = driver.grant()
    assert response.status_code == 302
    waiting = driver.portal("get", response["Location"])
    assert "Waiting for Microsoft to activate them" in page_text(waiting)
    assert GrantAttempt.objects.get().step == GrantStep.AWAITING_ACCESS
    assert driver.tasks.names == ["provisioning.check_grant_access"]
    assert_nothing_bound(cast)
    time.sleep(2.2)
    driver.tasks.run()
    service = ProtectedService.objects.get(organization=cast.organization, kind="exchange-online")
    assert service.status == ServiceStatus.PROTECTED
    assert not AuditEvent.objects.filter(action=Action.GRANT_REFUSED).exists()


def test_consent_propagation_that_never_ends_fails_cleanly(cast, driver, contoso, settings):
    settings.GRANT_ACCESS_WAIT_SECONDS = 1
    SimTenant.objects.filter(pk=contoso.pk).update(consent_propagation_seconds=600)
    response = driver.grant()
    assert response.status_code == 302
    time.sleep(1.1)
    driver.tasks.run()
    attempt = GrantAttempt.objects.get()
    assert attempt.step == GrantStep.REFUSED
    assert "did not activate the permissions in time" in attempt.error
    page = driver.portal("get", response["Location"])
    assert "did not activate the permissions in time" in page_text(page)
    assert_nothing_bound(cast)
    # Never taken for a revoked consent: no service is marked invalid.
    assert not ProtectedService.objects.filter(status=ServiceStatus.ACCESS_TOKEN_INVALID).exists()


def test_silent_identity_leg_falls_back_to_signing_in(cast, driver, m365sim):
    started = driver.start()
    consent_callback = driver.consent(started["Location"])
    after_consent = driver.portal("get", consent_callback)
    assert "prompt=none" in after_consent["Location"]
    driver.browser = m365sim.browser()  # Microsoft's session is gone: prompt=none cannot sign in silently
    login_required = driver.at_microsoft(after_consent["Location"])
    assert "error=login_required" in login_required
    interactive = driver.portal("get", login_required)
    assert interactive.status_code == 302
    assert "prompt=none" not in interactive["Location"]
    callback = driver.at_microsoft(interactive["Location"])
    response = driver.portal("get", callback)
    assert response.status_code == 302
    assert (
        ProtectedService.objects.get(organization=cast.organization, kind="exchange-online").status
        == ServiceStatus.PROVISIONING
    )


def test_rejected_application_credential_alerts_staff_and_marks_nothing_invalid(cast, driver, settings):
    settings.STAFF_ALERT_EMAILS = ["oncall@casportal.test"]
    sim.expire_secrets(Application.objects.get())
    response = driver.grant()
    assert response.status_code == 400
    assert "temporarily unavailable; the service team has been alerted" in page_text(response)
    assert "Recreate" not in page_text(response)
    health = AppCredentialHealth.objects.get()
    assert health.status == CredentialStatus.REJECTED
    assert health.error_code in ("AADSTS7000215", "AADSTS7000222")
    assert [m.to for m in mail.outbox] == [["oncall@casportal.test"]]
    assert_nothing_bound(cast)
    assert not ProtectedService.objects.filter(status=ServiceStatus.ACCESS_TOKEN_INVALID).exists()


def test_token_endpoint_failing_refuses_cleanly(cast, driver, contoso):
    SimTenant.objects.filter(pk=contoso.pk).update(token_failures_next=10)
    response = driver.grant()
    assert response.status_code == 400
    assert "did not answer" in page_text(response) or "did not complete" in page_text(response)
    assert_nothing_bound(cast)


def test_two_attempts_at_once_the_second_is_told_and_may_cancel_the_first(cast, driver):
    first = driver.start()
    assert first.status_code == 302
    other_admin = MembershipFactory.create(organization=cast.organization, role=Role.ADMIN).user
    other = portal_client(other_admin)
    url = reverse("grant_start", args=[cast.organization.slug, "exchange-online"])
    second = other.post(url, {"policy": "", "sync_mode": "all"})
    assert second.status_code == 400
    text = page_text(second)
    assert text.count("already in progress") + text.count("is in progress") == 1, "said once"
    assert f"started by {cast.owner.user.email}" in text
    assert "Cancel that attempt" in text
    assert "Resume at Microsoft" not in text  # its callbacks work only in the browser it started in
    other.post(reverse("grant_cancel", args=[cast.organization.slug, "exchange-online"]))
    assert GrantAttempt.objects.get().step == GrantStep.CANCELLED
    # The cancelled attempt's consent no longer counts.
    late = driver.portal("get", driver.consent(first["Location"]))
    assert late.status_code == 400
    assert_nothing_bound(cast)
    assert driver.start().status_code == 302
    assert AuditEvent.objects.filter(action=Action.GRANT_CANCELLED).count() == 1


def test_the_option_is_fixed_once_another_service_is_granted(cast, driver):
    driver.grant()
    driver.tasks.run()
    form = page_text(driver.portal("get", reverse("grant_start", args=[cast.organization.slug, "sharepoint-online"])))
    assert "use the same synchronization option" in form
    refused = driver.start("sharepoint-online", mode="certain")
    assert refused.status_code == 302  # a disabled field keeps its fixed value whatever is posted
    assert GrantAttempt.objects.filter(service__kind="sharepoint-online").get().sync_mode == "all"


def test_a_second_service_goes_through_both_legs_and_lands_on_the_same_organization(cast, driver, contoso):
    driver.grant()
    driver.tasks.run()
    response = driver.grant("sharepoint-online")
    assert response.status_code == 302
    driver.tasks.run()
    assert set(ProtectedService.objects.filter(organization=cast.organization).values_list("kind", "status")) >= {
        ("exchange-online", ServiceStatus.PROTECTED),
        ("sharepoint-online", ServiceStatus.PROTECTED),
    }
    assert Organization.objects.get(pk=cast.organization.pk).microsoft_tenant_id == contoso.id


def test_while_the_credential_is_rejected_every_organization_page_says_so(
    cast, driver, django_capture_on_commit_callbacks
):
    sim.expire_secrets(Application.objects.get())
    driver.grant()
    page = page_text(driver.portal("get", reverse("service_status", args=[cast.organization.slug])))
    assert "temporarily unavailable; the service team has been alerted" in page
    with django_capture_on_commit_callbacks(execute=True):
        record_credential_accepted()  # what the next token Microsoft issues does
    assert AppCredentialHealth.objects.get().status == CredentialStatus.OK
    page = page_text(driver.portal("get", reverse("service_status", args=[cast.organization.slug])))
    assert "temporarily unavailable" not in page


def test_a_rejection_shows_at_once_on_pages_seen_before_it(cast, owner_client, django_capture_on_commit_callbacks):
    url = reverse("service_status", args=[cast.organization.slug])
    assert "temporarily unavailable" not in page_text(owner_client.get(url))  # the cache now says "accepted"
    with django_capture_on_commit_callbacks(execute=True):
        record_credential_rejected(error_code="AADSTS7000222", description="The client secret keys are expired.")
    assert "temporarily unavailable; the service team has been alerted" in page_text(owner_client.get(url))


def test_an_identity_leg_signed_in_to_another_tenant_is_refused(cast, driver, monkeypatch):
    redeem = msal.ConfidentialClientApplication.acquire_token_by_auth_code_flow

    def from_elsewhere(self, *args, **kwargs):
        result = redeem(self, *args, **kwargs)
        result["id_token_claims"]["tid"] = str(uuid.uuid4())
        return result

    monkeypatch.setattr(msal.ConfidentialClientApplication, "acquire_token_by_auth_code_flow", from_elsewhere)
    response = driver.grant()
    assert response.status_code == 400
    assert "different Microsoft 365 tenant than the one you granted the permissions in" in page_text(response)
    assert_nothing_bound(cast)
    assert refusal_reasons() == ["identity_organization_mismatch"]
