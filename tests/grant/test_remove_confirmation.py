"""Remove of the last service says exactly what it deletes and asks for a typed confirmation; a wrong one changes
nothing and says why. Remove of one of several deletes only the service account."""

import re

import pytest
from django.urls import reverse

from audit.models import Action, AuditEvent
from connection.models import ServiceAccount
from directory.models import DirectoryGroup, DirectoryUser, GroupMembership
from grant import removal
from organizations.models import ProtectedService, ServiceStatus

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


def text_of(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.fixture
def protected(cast, driver):
    assert driver.grant().status_code == 302
    driver.tasks.run()
    return cast


def remove_url(cast, kind: str = "exchange-online") -> str:
    return reverse("service_remove", args=[cast.organization.slug, kind])


def directory_counts(cast) -> tuple[int, int, int]:
    return (
        DirectoryUser.objects.filter(organization=cast.organization).count(),
        DirectoryGroup.objects.filter(organization=cast.organization).count(),
        GroupMembership.objects.filter(organization=cast.organization).count(),
    )


def test_the_last_service_states_the_counts_it_deletes_and_asks_to_type_a_confirmation(protected, driver):
    users, groups, memberships = directory_counts(protected)
    assert min(users, groups, memberships) > 0
    page = text_of(driver.portal("get", remove_url(protected)))
    assert "Exchange Online is the last Microsoft 365 service of Contoso with access" in page
    assert f"<li>{users:,} synchronized users</li>" in page
    assert f"<li>{groups:,} synchronized groups</li>" in page
    assert f"<li>{memberships:,} group memberships</li>" in page
    assert "To confirm, type <strong>Exchange Online</strong> or <strong>DELETE</strong>" in page


@pytest.mark.parametrize(
    ("typed", "said"),
    [("", "Nothing was typed"), ("delete it", "“delete it” does not confirm it"), ("Exchange", "“Exchange” does not")],
)
def test_a_missing_or_wrong_confirmation_changes_nothing_and_says_why(protected, driver, typed, said):
    before = directory_counts(protected)
    response = driver.portal("post", remove_url(protected), {"confirmation": typed})
    assert response.status_code == 400
    page = text_of(response)
    assert said in page
    assert "type Exchange Online or DELETE to remove Exchange Online and delete the synchronized directory" in page
    assert "Nothing was removed." in page
    assert directory_counts(protected) == before
    assert ServiceAccount.objects.filter(organization=protected.organization).exists()
    protected.organization.refresh_from_db()
    assert protected.organization.microsoft_tenant_id is not None
    assert not AuditEvent.objects.filter(action=Action.SERVICE_REMOVED).exists()


@pytest.mark.parametrize("typed", ["DELETE", "exchange online", " Exchange Online "])
def test_the_word_or_the_service_name_confirms_and_the_directory_goes(protected, driver, typed):
    response = driver.portal("post", remove_url(protected), {"confirmation": typed})
    assert response.status_code == 200
    assert "no longer connected to a Microsoft 365 tenant" in text_of(response)
    assert directory_counts(protected) == (0, 0, 0)
    protected.organization.refresh_from_db()
    assert protected.organization.microsoft_tenant_id is None


def test_one_of_two_services_needs_no_typing_and_keeps_the_directory(protected, driver):
    driver.grant("sharepoint-online")
    driver.tasks.run()
    page = text_of(driver.portal("get", remove_url(protected, "sharepoint-online")))
    assert "keep their access, so the synchronized directory stays" in page
    assert "To confirm, type" not in page
    before = directory_counts(protected)
    response = driver.portal("post", remove_url(protected, "sharepoint-online"))
    assert response.status_code == 200
    assert directory_counts(protected) == before
    assert (
        ProtectedService.objects.get(organization=protected.organization, kind="sharepoint-online").status
        == ServiceStatus.NOT_GRANTED
    )


def test_a_service_that_became_the_last_meanwhile_is_not_removed_without_the_confirmation(protected, driver):
    driver.grant("sharepoint-online")
    driver.tasks.run()
    exchange = ProtectedService.objects.get(organization=protected.organization, kind="exchange-online")
    sharepoint = ProtectedService.objects.get(organization=protected.organization, kind="sharepoint-online")
    # The admin opened Remove of SharePoint Online while Exchange Online still had access; someone removes that.
    assert not removal.preview_removal(sharepoint).last
    assert removal.remove_service(service=exchange, actor=protected.owner.user) is False
    with pytest.raises(removal.RemovalNotConfirmed):
        removal.remove_service(service=sharepoint, actor=protected.owner.user)
    assert ServiceAccount.objects.filter(service=sharepoint).exists()
    assert DirectoryUser.objects.filter(organization=protected.organization).exists()


def test_the_last_service_without_synchronized_data_needs_no_typing(cast, driver):
    response = driver.grant(mode="certain")  # bound, the users not chosen yet: nothing synchronized
    assert response.status_code == 302
    page = text_of(driver.portal("get", remove_url(cast)))
    assert "No synchronized data is stored, so nothing else is deleted." in page
    assert driver.portal("post", remove_url(cast)).status_code == 200
    assert not ServiceAccount.objects.exists()
