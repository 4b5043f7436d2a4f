import pytest
from django.urls import reverse

from audit.models import Action, AuditEvent
from connection.models import ServiceAccount
from directory.models import DirectoryDomain, DirectoryGroup, DirectoryUser, GroupMembership
from organizations.models import Policy, ProtectedService, ServiceStatus

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


def remove(driver, cast, kind: str):
    url = reverse("service_remove", args=[cast.organization.slug, kind])
    confirm = driver.client.get(url).content.decode()
    assert "Remove " in confirm
    # Removing the last service deletes the directory: it is confirmed by typing DELETE.
    return driver.portal("post", url, {"confirmation": "DELETE"})


def test_removing_one_of_two_services_keeps_the_connection(protected, driver):
    cast = protected
    driver.grant("sharepoint-online")
    driver.tasks.run()
    page = remove(driver, cast, "sharepoint-online").content.decode()
    assert "Enterprise applications" in page
    assert (
        ProtectedService.objects.get(organization=cast.organization, kind="sharepoint-online").status
        == ServiceStatus.NOT_GRANTED
    )
    assert (
        ProtectedService.objects.get(organization=cast.organization, kind="exchange-online").status
        == ServiceStatus.PROTECTED
    )
    cast.organization.refresh_from_db()
    assert cast.organization.microsoft_tenant_id is not None
    assert DirectoryUser.objects.filter(organization=cast.organization).exists()
    assert AuditEvent.objects.filter(action=Action.SERVICE_REMOVED, target="SharePoint Online").exists()


def test_removing_the_last_service_unbinds_the_organization_and_deletes_the_directory(protected, driver):
    cast = protected
    policies = Policy.objects.filter(organization=cast.organization).count()
    page = remove(driver, cast, "exchange-online").content.decode()
    assert "no longer connected to a Microsoft 365 tenant" in page
    cast.organization.refresh_from_db()
    assert cast.organization.microsoft_tenant_id is None
    assert not ServiceAccount.objects.exists()
    for model in (DirectoryUser, DirectoryGroup, GroupMembership, DirectoryDomain):
        assert not model.objects.filter(organization=cast.organization).exists()
    assert Policy.objects.filter(organization=cast.organization).count() == policies
    assert AuditEvent.objects.filter(action=Action.MICROSOFT_TENANT_UNBOUND).exists()
    # The organization can be connected again, to any tenant.
    assert driver.grant().status_code == 302


def test_a_read_only_member_cannot_remove(protected, reader_client):
    url = reverse("service_remove", args=[protected.organization.slug, "exchange-online"])
    assert reader_client.post(url).status_code == 403
    assert ServiceAccount.objects.exists()
