"""What the grant pages say: each service's form describes its own access and permissions, a refusal keeps the
organization's navigation and offers Try again, and Activity names the Microsoft 365 tenant by name."""

import re

import pytest
from django.urls import reverse
from django.utils.html import escape

from audit.models import Action, AuditEvent
from grant.permissions import SERVICE_ACCESS
from organizations.models import ServiceKind

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


def text_of(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


OWN_PERMISSION = {
    ServiceKind.EXCHANGE_ONLINE: "Mail.ReadWrite",
    ServiceKind.SHAREPOINT_ONLINE: "Sites.Read.All",
    ServiceKind.ONEDRIVE: "Files.Read.All",
    ServiceKind.TEAMS: "Team.ReadBasic.All",
}


@pytest.mark.parametrize("kind", list(ServiceKind))
def test_each_service_form_describes_its_own_access_and_lists_its_own_permissions(cast, owner_client, kind):
    page = text_of(owner_client.get(reverse("grant_start", args=[cast.organization.slug, kind])))
    assert f"What {kind.label} lets casportal do" in page
    assert escape(f"casportal {SERVICE_ACCESS[kind].does}.") in page
    section = page.split('id="access-heading"', 1)[1].split("</section>", 1)[0]
    own = {name for name in OWN_PERMISSION.values() if f"<code>{name}</code>" in section}
    assert own == {OWN_PERMISSION[kind]}
    assert "<code>User.Read.All</code>" in section  # the directory, which every service reads
    assert "one consent covers them all" in page
    if kind != ServiceKind.EXCHANGE_ONLINE:
        assert "mailboxes" not in page


def test_a_refusal_keeps_the_organizations_navigation_and_offers_try_again(cast, driver):
    started = driver.start()
    refused = driver.portal("get", driver.consent(started["Location"], action="cancel"))
    assert refused.status_code == 400
    page = text_of(refused)
    assert 'aria-label="Main navigation"' in page
    assert f'href="/o/{cast.organization.slug}/service-status/">Service Status</a>' in page
    try_again = reverse("grant_start", args=[cast.organization.slug, "exchange-online"])
    assert f'href="{try_again}">Try again</a>' in page


def test_a_refusal_for_someone_outside_the_organization_shows_none_of_it(cast, driver, outsider_client):
    started = driver.start()
    callback = driver.consent(started["Location"])
    page = text_of(outsider_client.get(callback.removeprefix("http://127.0.0.1:8000"), HTTP_HOST="127.0.0.1:8000"))
    assert cast.organization.slug not in page
    assert "Try again" not in page
    assert 'href="/">Back to the portal</a>' in page


def test_the_microsoft_tenant_bound_is_named_by_its_name_and_domain(cast, driver, contoso):
    assert driver.grant().status_code == 302
    event = AuditEvent.objects.get(action=Action.MICROSOFT_TENANT_BOUND)
    assert event.target == "Contoso (contoso.onmicrosoft.com)"
    assert event.details == {"microsoft_tenant_id": str(contoso.id)}
    activity = text_of(driver.portal("get", reverse("activity", args=[cast.organization.slug])))
    assert "Contoso (contoso.onmicrosoft.com)" in activity
    assert str(contoso.id) not in activity
