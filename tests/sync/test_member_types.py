"""Members of every type Microsoft lists (users, groups, organizational contacts, devices, service principals)
keep their type and id; only users are users: in the Directory, its counts and the certain-users picker."""

import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from directory.models import (
    DirectoryGroup,
    DirectoryUser,
    GroupMembership,
    GroupType,
    MemberType,
    SyncRun,
    SyncStatus,
)
from directory.writes import write_memberships
from m365sim import services as sim
from m365sim.models import Group as SimGroup
from m365sim.models import MemberObject as SimMemberObject
from m365sim.models import User as SimUser
from microsoft import graph
from tests.sync.conftest import portal_state, simulator_state

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


def latest_run(cast) -> SyncRun:
    return SyncRun.objects.filter(organization=cast.organization).latest("queued_at")


def add_other_members(tenant, group) -> dict[MemberType, SimMemberObject]:
    objects = {
        MemberType.CONTACT: sim.add_member_object(
            tenant, kind="orgContact", display_name="Tailspin", mail="desk@tailspin.example"
        ),
        MemberType.DEVICE: sim.add_member_object(tenant, kind="device", display_name="KIOSK-01"),
        MemberType.SERVICE_PRINCIPAL: sim.add_member_object(tenant, kind="servicePrincipal", display_name="Robot"),
    }
    for obj in objects.values():
        sim.add_member(group, obj)
    return objects


def test_a_sync_keeps_each_members_type_and_makes_no_user_of_a_contact_device_or_app(
    protected, driver, contoso, reader_client
):
    group = SimGroup.objects.filter(tenant=contoso).order_by("id")[0]
    objects = add_other_members(contoso, group)
    assert driver.portal("post", reverse("sync_now", args=[protected.organization.slug])).status_code == 302
    driver.tasks.run()

    assert portal_state(protected.organization) == simulator_state(contoso)
    stored = dict(
        GroupMembership.objects.filter(organization=protected.organization, group_id=group.id).values_list(
            "member_id", "member_type"
        )
    )
    assert {stored[obj.id] for obj in objects.values()} == set(objects)  # orgContact, device, servicePrincipal
    users = SimUser.objects.filter(tenant=contoso, deleted_at__isnull=True)
    assert all(stored[m] == MemberType.USER for m in stored if users.filter(pk=m).exists())
    # Only users are users: the Directory's users and their count.
    assert DirectoryUser.objects.filter(organization=protected.organization).count() == users.count()
    assert not DirectoryUser.objects.filter(microsoft_id__in=[obj.id for obj in objects.values()]).exists()
    page = reader_client.get(reverse("directory_group", args=[protected.organization.slug, group.id])).content.decode()
    for label in ("Organizational contact", "Device", "Service principal"):
        assert label in page


def test_members_of_other_types_are_stored_with_their_type_even_one_this_portal_does_not_know(cast, reader_client):
    group = DirectoryGroup.objects.create(
        organization=cast.organization,
        microsoft_id=uuid.uuid4(),
        display_name="Mixed",
        group_type=GroupType.SECURITY,
        synced_at=timezone.now(),
    )
    user = DirectoryUser.objects.create(
        organization=cast.organization,
        microsoft_id=uuid.uuid4(),
        user_principal_name="ann@contoso.test",
        display_name="Ann",
        synced_at=timezone.now(),
    )
    ids = {kind: str(uuid.uuid4()) for kind in ("orgContact", "device", "servicePrincipal", "futureThing")}
    written = write_memberships(
        cast.organization.pk,
        [(str(group.microsoft_id), graph.MemberRef(id=str(user.microsoft_id), kind="user"))]
        + [(str(group.microsoft_id), graph.MemberRef(id=member_id, kind=kind)) for kind, member_id in ids.items()],
    )
    assert written == 5
    stored = dict(
        GroupMembership.objects.filter(organization=cast.organization).values_list("member_id", "member_type")
    )
    assert {str(member_id): kind for member_id, kind in stored.items()} == {
        str(user.microsoft_id): "user",
        **{member_id: kind for kind, member_id in ids.items()},
    }

    page = reader_client.get(reverse("directory_group", args=[cast.organization.slug, group.microsoft_id]))
    html = page.content.decode()
    assert "ann@contoso.test" in html
    assert "Other members" in html
    for label in ("Organizational contact", "Device", "Service principal"):
        assert label in html
    assert "futureThing (a type this portal does not know yet)" in html
    for member_id in ids.values():
        assert member_id in html
    # The users page and count: one user.
    users_page = reader_client.get(reverse("directory_users", args=[cast.organization.slug])).content.decode()
    assert "ann@contoso.test" in users_page
    assert DirectoryUser.objects.filter(organization=cast.organization).count() == 1


def test_a_group_without_other_members_shows_no_such_section(cast, reader_client):
    group = DirectoryGroup.objects.create(
        organization=cast.organization,
        microsoft_id=uuid.uuid4(),
        display_name="Plain",
        group_type=GroupType.SECURITY,
        synced_at=timezone.now(),
    )
    html = reader_client.get(reverse("directory_group", args=[cast.organization.slug, group.microsoft_id])).content
    assert b"Other members" not in html


@pytest.fixture
def picker(cast, driver):
    response = driver.grant(mode="certain")
    assert response.status_code == 302
    page = driver.portal("get", response["Location"])
    assert page["Location"] == reverse("selected_users", args=[cast.organization.slug, "exchange-online"])
    return page["Location"]


def test_the_picker_offers_only_the_users_of_a_group(driver, picker, contoso):
    group = SimGroup.objects.filter(tenant=contoso).order_by("id")[0]
    objects = add_other_members(contoso, group)
    page = driver.portal("get", picker, {"group": str(group.id)}).content.decode()
    user_ids = [str(m.member_user_id) for m in group.memberships.filter(member_user__isnull=False, removed=False)]
    assert all(user_id in page for user_id in user_ids)
    assert not any(str(obj.id) in page for obj in objects.values())

    # Choosing a contact or a device by its id is refused: it is not among the group's users.
    response = driver.portal(
        "post",
        picker.replace("/users/", "/users/add-from-group/"),
        {"group": str(group.id), "members": [str(objects[MemberType.DEVICE].id)]},
    )
    assert response.status_code == 302
    assert "Choose users from the group&#x27;s members." in driver.portal("get", picker).content.decode()


def test_a_member_removed_at_microsoft_leaves_the_group_whatever_its_type(protected, driver, contoso):
    group = SimGroup.objects.filter(tenant=contoso).order_by("id")[0]
    objects = add_other_members(contoso, group)
    driver.portal("post", reverse("sync_now", args=[protected.organization.slug]))
    driver.tasks.run()
    sim.remove_member(group, objects[MemberType.DEVICE])
    sim.delete_member_object(objects[MemberType.CONTACT])
    driver.portal("post", reverse("sync_now", args=[protected.organization.slug]))
    driver.tasks.run()

    assert latest_run(protected).status == SyncStatus.SUCCEEDED
    types = set(
        GroupMembership.objects.filter(organization=protected.organization, group_id=group.id).values_list(
            "member_type", flat=True
        )
    )
    assert MemberType.SERVICE_PRINCIPAL in types
    assert not types & {MemberType.DEVICE, MemberType.CONTACT}
    assert portal_state(protected.organization) == simulator_state(contoso)
