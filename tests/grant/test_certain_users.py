import uuid

import pytest
from django.urls import reverse

from audit.models import Action, AuditEvent
from directory.models import DirectoryGroup, DirectoryUser, SelectedUser, SyncSettings
from directory.progress import SUCCESS_SENTENCE
from m365sim.models import Group as SimGroup
from m365sim.models import Membership as SimMembership
from m365sim.models import User as SimUser
from organizations.models import ProtectedService, ServiceStatus

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


@pytest.fixture
def picker(cast, driver):
    """A certain-users grant, up to the picker."""
    response = driver.grant(mode="certain")
    assert response.status_code == 302
    page = driver.portal("get", response["Location"])
    assert page.status_code == 302
    assert page["Location"] == reverse("selected_users", args=[cast.organization.slug, "exchange-online"])
    return page["Location"]


def add(driver, picker, upn):
    driver.portal("post", picker.replace("/users/", "/users/add/"), {"user_principal_name": upn})
    return driver.portal("get", picker).content.decode()


def test_certain_users_grant_synchronizes_exactly_the_chosen_users_and_their_groups(cast, driver, picker, contoso):
    assert SyncSettings.objects.get(organization=cast.organization).mode == "certain"
    assert (
        ProtectedService.objects.get(organization=cast.organization, kind="exchange-online").status
        == ServiceStatus.PROVISIONING
    )
    assert driver.tasks.names == []  # nothing synchronizes before the users are chosen
    page = add(driver, picker, "alex@contoso.onmicrosoft.com")
    assert "alex@contoso.onmicrosoft.com will be synchronized." in page

    group = SimGroup.objects.filter(tenant=contoso).order_by("display_name").first()
    assert group is not None
    listing = driver.portal("get", picker, {"q": group.display_name[:4]}).content.decode()
    assert group.display_name in listing
    members_page = driver.portal("get", picker, {"group": str(group.id)}).content.decode()
    member_ids = list(
        SimMembership.objects.filter(group=group, member_user__isnull=False, removed=False).values_list(
            "member_user_id", flat=True
        )[:2]
    )
    for member_id in member_ids:
        assert str(member_id) in members_page
    driver.portal(
        "post",
        picker.replace("/users/", "/users/add-from-group/"),
        {"group": str(group.id), "members": [str(m) for m in member_ids]},
    )
    chosen = set(SelectedUser.objects.filter(organization=cast.organization).values_list("microsoft_id", flat=True))
    alex = SimUser.objects.get(user_principal_name="alex@contoso.onmicrosoft.com")
    assert chosen == {alex.id, *member_ids}
    assert AuditEvent.objects.filter(action=Action.SELECTED_USER_ADDED).count() == len(chosen)

    driver.portal("post", picker.replace("/users/", "/users/start/"))
    assert driver.tasks.names == ["provisioning.sync_batch"]
    driver.tasks.run()
    progress = driver.portal("get", reverse("sync_progress", args=[cast.organization.slug, "exchange-online"]))
    assert SUCCESS_SENTENCE in progress.content.decode()

    assert (
        set(DirectoryUser.objects.filter(organization=cast.organization).values_list("microsoft_id", flat=True))
        == chosen
    )
    expected_groups = set(
        SimMembership.objects.filter(
            member_user_id__in=chosen, removed=False, group__deleted_at__isnull=True
        ).values_list("group_id", flat=True)
    )
    assert (
        set(DirectoryGroup.objects.filter(organization=cast.organization).values_list("microsoft_id", flat=True))
        == expected_groups
    )
    assert (
        ProtectedService.objects.get(organization=cast.organization, kind="exchange-online").status
        == ServiceStatus.PROTECTED
    )


@pytest.mark.usefixtures("cast")
def test_an_unknown_user_principal_name_is_refused(driver, picker):
    page = add(driver, picker, "nobody@contoso.onmicrosoft.com")
    assert "No user nobody@contoso.onmicrosoft.com exists in your Microsoft 365 directory." in page
    assert not SelectedUser.objects.exists()


@pytest.mark.usefixtures("cast")
def test_a_malformed_user_principal_name_is_refused_without_a_lookup(driver, picker):
    page = add(driver, picker, "not a upn")
    assert "Enter a user principal name" in page
    assert not SelectedUser.objects.exists()


def test_the_101st_user_is_refused(cast, driver, picker):
    SelectedUser.objects.bulk_create(
        SelectedUser(
            organization=cast.organization,
            microsoft_id=uuid.uuid4(),
            user_principal_name=f"u{n}@contoso.onmicrosoft.com",
        )
        for n in range(100)
    )
    page = add(driver, picker, "alex@contoso.onmicrosoft.com")
    assert "At most 100 users" in page
    assert SelectedUser.objects.count() == 100


@pytest.mark.usefixtures("cast")
def test_group_search_needs_three_characters(driver, picker):
    response = driver.portal("get", picker, {"q": "ab"})
    assert response.status_code == 400
    assert "at least 3 characters" in response.content.decode()


@pytest.mark.usefixtures("cast")
def test_directory_lookups_are_rate_limited_per_organization(driver, picker, settings):
    settings.USER_PICKER_LOOKUPS_PER_MINUTE = 2
    assert driver.portal("get", picker, {"q": "abc"}).status_code == 200
    assert driver.portal("get", picker, {"q": "abd"}).status_code == 200
    limited = driver.portal("get", picker, {"q": "abe"})
    assert limited.status_code == 429
    assert "Too many directory lookups" in limited.content.decode()
    assert "Too many directory lookups" in add(driver, picker, "alex@contoso.onmicrosoft.com")
    assert not SelectedUser.objects.exists()


@pytest.mark.usefixtures("cast")
def test_a_chosen_user_can_be_removed_before_starting(driver, picker):
    add(driver, picker, "alex@contoso.onmicrosoft.com")
    selected = SelectedUser.objects.get()
    driver.portal("post", picker.replace("/users/", f"/users/{selected.microsoft_id}/remove/"))
    assert not SelectedUser.objects.exists()
    assert AuditEvent.objects.filter(action=Action.SELECTED_USER_REMOVED).exists()


@pytest.mark.usefixtures("cast")
def test_synchronization_does_not_start_without_users(driver, picker):
    driver.portal("post", picker.replace("/users/", "/users/start/"))
    assert driver.tasks.names == []
    assert "Choose at least one user" in driver.portal("get", picker).content.decode()


@pytest.mark.usefixtures("picker")
def test_the_second_service_shows_the_option_fixed_to_certain_users(cast, driver):
    form = driver.portal("get", reverse("grant_start", args=[cast.organization.slug, "onedrive"])).content.decode()
    assert 'id="sync-mode-certain" value="certain" checked' in form
    assert 'id="sync-mode-all" value="all" disabled' in form
