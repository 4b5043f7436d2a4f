"""No dead ends: a grant left at Microsoft shows on Service Status with Resume and Cancel, starting again in the same
browser replaces it, and the form starts from the admin's last choices, never from the irreversible default."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from audit.models import Action, AuditEvent
from connection.health import CONSENT_BROKEN, record_connection_broken
from directory.models import SyncMode, SyncSettings
from grant.models import GrantAttempt, GrantStep
from organizations.models import Policy, ProtectedService, Role, ServiceStatus
from tests.factories import MembershipFactory
from tests.grant_driver import GLOBAL_ADMIN, portal_client

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])

IN_PROGRESS = re.compile(r"[Ss]tarted \d\d:\d\d UTC by owner@contoso\.test\. Now: ([A-Za-z ]+)\.")


def text_of(response) -> str:
    return response.content.decode()


def service_status(driver, cast) -> str:
    return text_of(driver.portal("get", reverse("service_status", args=[cast.organization.slug])))


def resume(driver, cast, kind: str = "exchange-online"):
    return driver.portal("post", reverse("grant_resume", args=[cast.organization.slug, kind]))


def state_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["state"][0]


def test_a_grant_left_at_the_consent_page_shows_on_service_status_and_resumes_there(cast, driver):
    left = driver.start()
    assert left.status_code == 302
    page = service_status(driver, cast)
    assert IN_PROGRESS.findall(page) == ["Waiting for consent at Microsoft"]
    assert '<span class="badge text-bg-info status-badge">Grant in progress</span>' in page
    assert ">Resume<span" in page
    assert ">Cancel<span" in page

    resumed = resume(driver, cast)
    assert resumed.status_code == 302
    assert urlsplit(resumed["Location"]).path == urlsplit(left["Location"]).path  # Microsoft's consent page again
    assert state_of(resumed["Location"]) != state_of(left["Location"])
    # The link it replaced no longer works; the resumed one completes the grant.
    assert driver.portal("get", driver.consent(left["Location"])).status_code == 400
    after_consent = driver.portal("get", driver.consent(resumed["Location"]))
    assert after_consent.status_code == 302
    bound = driver.portal("get", driver.at_microsoft(after_consent["Location"]))
    assert bound.status_code == 302
    driver.tasks.run()
    service = ProtectedService.objects.get(organization=cast.organization, kind="exchange-online")
    assert service.status == ServiceStatus.PROTECTED
    assert GrantAttempt.objects.count() == 1


def test_a_grant_left_at_the_sign_in_resumes_at_the_sign_in(cast, driver):
    started = driver.start()
    after_consent = driver.portal("get", driver.consent(started["Location"]))
    assert after_consent.status_code == 302  # to Microsoft's sign-in, which the admin leaves
    assert IN_PROGRESS.findall(service_status(driver, cast)) == ["Signing in the administrator"]
    resumed = resume(driver, cast)
    assert resumed.status_code == 302
    assert "/oauth2/v2.0/authorize" in resumed["Location"]
    bound = driver.portal("get", driver.at_microsoft(resumed["Location"], GLOBAL_ADMIN))
    assert bound.status_code == 302
    driver.tasks.run()
    assert (
        ProtectedService.objects.get(organization=cast.organization, kind="exchange-online").status
        == ServiceStatus.PROTECTED
    )


def test_a_grant_waiting_for_microsoft_links_to_its_wait(cast, driver, contoso):
    contoso.consent_propagation_seconds = 600
    contoso.save(update_fields=["consent_propagation_seconds"])
    waiting = driver.grant()
    assert waiting.status_code == 302
    attempt = GrantAttempt.objects.get()
    assert attempt.step == GrantStep.AWAITING_ACCESS
    page = service_status(driver, cast)
    assert IN_PROGRESS.findall(page) == ["Waiting for Microsoft to activate the permissions"]
    status_url = reverse("grant_status", args=[cast.organization.slug, "exchange-online", attempt.public_id])
    assert f'href="{status_url}">See its progress' in page
    assert resume(driver, cast)["Location"] == status_url


def test_another_admin_may_cancel_from_service_status_but_not_resume(cast, driver):
    driver.start()
    colleague = portal_client(MembershipFactory.create(organization=cast.organization, role=Role.ADMIN).user)
    url = reverse("service_status", args=[cast.organization.slug])
    page = text_of(colleague.get(url))
    assert IN_PROGRESS.findall(page) == ["Waiting for consent at Microsoft"]
    assert ">Resume<span" not in page
    refused = colleague.post(reverse("grant_resume", args=[cast.organization.slug, "exchange-online"]))
    assert refused["Location"] == url
    followed = text_of(colleague.get(url))
    assert "started by owner@contoso.test in another browser session" in followed
    assert GrantAttempt.objects.get().step == GrantStep.CONSENT

    cancelled = colleague.post(
        reverse("grant_cancel", args=[cast.organization.slug, "exchange-online"]), {"return_to": "service_status"}
    )
    assert cancelled["Location"] == url
    assert GrantAttempt.objects.get().step == GrantStep.CANCELLED
    page = text_of(colleague.get(url))
    assert "was cancelled" in page
    assert not IN_PROGRESS.findall(page)
    assert ">Grant Access<span" in page


@pytest.mark.usefixtures("cast")
def test_starting_again_in_the_same_browser_replaces_the_abandoned_attempt(driver):
    first = driver.start()
    second = driver.start()
    assert second.status_code == 302
    steps = dict(GrantAttempt.objects.values_list("public_id", "step"))
    assert sorted(steps.values()) == [GrantStep.CANCELLED, GrantStep.CONSENT]
    replaced = AuditEvent.objects.get(action=Action.GRANT_CANCELLED)
    assert replaced.details["replaced_by_a_new_attempt"] is True
    assert driver.portal("get", driver.consent(first["Location"])).status_code == 400
    assert driver.portal("get", driver.consent(second["Location"])).status_code == 302


def test_back_on_the_form_after_a_refusal_the_choices_are_kept(cast, driver):
    policy = Policy.objects.get(
        organization=cast.organization, service__kind="exchange-online", name="Default DLP policy"
    )
    started = driver.start(policy=str(policy.public_id), mode=SyncMode.CERTAIN)
    declined = driver.portal("get", driver.consent(started["Location"], action="cancel"))
    assert declined.status_code == 400
    form = text_of(driver.portal("get", reverse("grant_start", args=[cast.organization.slug, "exchange-online"])))
    assert 'id="sync-mode-certain" value="certain" checked' in form
    assert 'id="sync-mode-all" value="all">' in form
    assert f'<option value="{policy.public_id}" selected>' in form


def test_the_first_grant_states_its_irreversible_choice_and_a_later_one_shows_it_fixed(cast, driver):
    url = reverse("grant_start", args=[cast.organization.slug, "exchange-online"])
    first = text_of(driver.portal("get", url))
    assert "This choice applies to all four services</strong>" in first
    assert "All users cannot be changed back to certain users." in first
    driver.grant()
    driver.tasks.run()
    second = text_of(driver.portal("get", reverse("grant_start", args=[cast.organization.slug, "onedrive"])))
    assert "cannot be changed back" not in second
    assert "use the same synchronization option" in second
    assert SyncSettings.objects.get(organization=cast.organization).mode == SyncMode.ALL


def test_a_read_only_member_gets_a_page_saying_why_instead_of_the_form(cast, reader_client):
    response = reader_client.get(reverse("grant_start", args=[cast.organization.slug, "exchange-online"]))
    assert response.status_code == 403
    page = text_of(response)
    assert "Only an administrator of Contoso can grant access to a Microsoft 365 service" in page
    assert "Grant Permission" not in page
    assert 'aria-label="Main navigation"' in page
    assert f'href="/o/{cast.organization.slug}/service-status/"' in page
    removal = reader_client.get(reverse("service_remove", args=[cast.organization.slug, "exchange-online"]))
    assert removal.status_code == 403


def test_a_recreate_in_progress_keeps_its_status_and_says_what_is_under_way(cast, driver):
    driver.grant()
    driver.tasks.run()
    record_connection_broken(organization=cast.organization, reason=CONSENT_BROKEN)
    assert driver.start().status_code == 302
    page = service_status(driver, cast)
    assert '<span class="badge text-bg-danger status-badge">Access token invalid</span>' in page
    assert "Recreate Access Token in progress — started" in page
    assert IN_PROGRESS.findall(page) == ["Waiting for consent at Microsoft"]
