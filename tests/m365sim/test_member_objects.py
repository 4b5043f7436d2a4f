"""Members that are neither users nor groups: organizational contacts, devices and service principals, in group
listings, groups delta and the control API."""

import uuid

import pytest

from m365sim import services as sim
from m365sim.models import Application, Group, MemberObject, Membership, Tenant, User
from tests.m365sim.tokens import graph_getter

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


@pytest.fixture
def pilots(contoso_consented) -> tuple[Group, dict[str, MemberObject]]:
    """A group holding a user, a contact, a device and a service principal."""
    group = sim.add_group(contoso_consented, display_name="Pilots")
    sim.add_member(group, User.objects.filter(tenant=contoso_consented).order_by("id")[0])
    objects = {
        "orgContact": sim.add_member_object(
            contoso_consented, kind="orgContact", display_name="Tailspin Desk", mail="desk@tailspin.example"
        ),
        "device": sim.add_member_object(contoso_consented, kind="device", display_name="KIOSK-01"),
        "servicePrincipal": sim.add_member_object(contoso_consented, kind="servicePrincipal", display_name="Agent"),
    }
    for obj in objects.values():
        sim.add_member(group, obj)
    return group, objects


def test_members_carry_each_objects_type_with_limited_information_without_the_permission(
    m365sim, contoso_consented, pilots
):
    group, objects = pilots
    get = graph_getter(m365sim, str(contoso_consented.id))
    members = {m["id"]: m for m in get(f"groups/{group.id}/members").json()["value"]}
    contact, device = members[str(objects["orgContact"].id)], members[str(objects["device"].id)]
    # The portal's permissions (User.Read.All, GroupMember.Read.All) read neither contacts nor devices.
    assert contact == {
        "@odata.type": "#microsoft.graph.orgContact",
        "id": contact["id"],
        "displayName": None,
        "mail": None,
    }
    assert device == {
        "@odata.type": "#microsoft.graph.device",
        "id": device["id"],
        "displayName": None,
        "deviceId": None,
    }
    assert {m["@odata.type"] for m in members.values()} == {
        "#microsoft.graph.user",
        "#microsoft.graph.orgContact",
        "#microsoft.graph.device",
    }  # v1.0's known issue: no service principals among /members

    transitive = {m["id"]: m for m in get(f"groups/{group.id}/transitiveMembers").json()["value"]}
    service_principal = transitive[str(objects["servicePrincipal"].id)]
    assert service_principal["@odata.type"] == "#microsoft.graph.servicePrincipal"
    assert service_principal["appId"] is None


def test_directory_read_all_reads_them_in_full(m365sim, contoso_consented, pilots):
    group, objects = pilots
    app = Application.objects.get()
    app.application_permissions = [*app.application_permissions, "Directory.Read.All"]
    app.save()
    sim.grant_admin_consent(
        contoso_consented, app, user=User.objects.get(user_principal_name="admin@contoso.onmicrosoft.com")
    )
    get = graph_getter(m365sim, str(contoso_consented.id))

    members = {m["id"]: m for m in get(f"groups/{group.id}/transitiveMembers").json()["value"]}
    contact, device, app_member = (members[str(objects[k].id)] for k in ("orgContact", "device", "servicePrincipal"))
    assert (contact["displayName"], contact["mail"]) == ("Tailspin Desk", "desk@tailspin.example")
    assert (device["displayName"], device["deviceId"]) == ("KIOSK-01", str(objects["device"].device_id))
    assert (app_member["displayName"], app_member["appId"]) == ("Agent", str(objects["servicePrincipal"].app_id))
    selected = get(f"groups/{group.id}/members?$select=displayName").json()["value"]
    assert {"@odata.type", "id", "displayName"} >= set().union(*selected)


def test_groups_delta_lists_them_in_members_delta_and_reports_their_removal(m365sim, contoso_consented, pilots):
    group, objects = pilots
    get = graph_getter(m365sim, str(contoso_consented.id))
    pages = [get("groups/delta?$select=displayName,members").json()]
    while "@odata.nextLink" in pages[-1]:
        pages.append(get(pages[-1]["@odata.nextLink"]).json())
    (entry,) = [g for page in pages for g in page["value"] if g["id"] == str(group.id)]
    assert {
        (m["@odata.type"], m["id"]) for m in entry["members@delta"] if m["@odata.type"] != "#microsoft.graph.user"
    } == {(f"#microsoft.graph.{kind}", str(obj.id)) for kind, obj in objects.items()}

    sim.remove_member(group, objects["device"])
    sim.delete_member_object(objects["orgContact"])
    changes = get(pages[-1]["@odata.deltaLink"]).json()["value"]
    assert [(g["id"], sorted((m["id"], m["@removed"]["reason"]) for m in g["members@delta"])) for g in changes] == [
        (str(group.id), sorted([(str(objects["device"].id), "deleted"), (str(objects["orgContact"].id), "deleted")]))
    ]
    after = {m["id"] for m in get(f"groups/{group.id}/members").json()["value"]}
    assert after.isdisjoint({str(objects["device"].id), str(objects["orgContact"].id)})


@pytest.mark.usefixtures("contoso")
def test_the_control_api_adds_them_and_makes_them_members(m365sim):
    path = "tenants/contoso/directory"
    group_id = m365sim.control("POST", path, {"op": "add_group", "display_name": "Lab"})["id"]
    contact_id = m365sim.control(
        "POST", path, {"op": "add_contact", "display_name": "Vendor", "mail": "vendor@example.com"}
    )["id"]
    device_id = str(uuid.uuid4())
    device = m365sim.control("POST", path, {"op": "add_device", "display_name": "LAB-PC", "device_id": device_id})
    app_id = m365sim.control("POST", path, {"op": "add_service_principal", "display_name": "Robot"})["id"]
    for member in (contact_id, device["id"], app_id):
        m365sim.control("POST", path, {"op": "add_member", "group": "Lab", "object": member})

    members = MemberObject.objects.filter(memberships__group_id=group_id, memberships__removed=False)
    assert set(members.values_list("kind", "display_name")) == {
        ("orgContact", "Vendor"),
        ("device", "LAB-PC"),
        ("servicePrincipal", "Robot"),
    }
    assert str(MemberObject.objects.get(pk=device["id"]).device_id) == device_id
    assert MemberObject.objects.get(pk=contact_id).mail == "vendor@example.com"
    assert MemberObject.objects.get(pk=app_id).app_id is not None

    m365sim.control("POST", path, {"op": "remove_member", "group": group_id, "object": contact_id})
    m365sim.control("POST", path, {"op": "delete_object", "object": app_id, "permanent": True})
    assert set(
        Membership.objects.filter(group_id=group_id, removed=False).values_list("member_object_id", flat=True)
    ) == {uuid.UUID(device["id"])}
    assert MemberObject.objects.get(pk=app_id).hard_deleted


@pytest.mark.usefixtures("contoso")
@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"op": "add_device", "display_name": "X", "device_id": "not-a-guid"}, "device_id must be a GUID."),
        ({"op": "add_member", "group": "Lab", "object": str(uuid.uuid4())}, "No contact, device or service"),
        ({"op": "add_member", "group": "Lab", "user": "a", "object": "b"}, "exactly one of"),
        ({"op": "delete_object", "object": "nope"}, "No contact, device or service"),
    ],
)
def test_bad_member_operations_are_400_and_change_nothing(m365sim, body, error):
    m365sim.control("POST", "tenants/contoso/directory", {"op": "add_group", "display_name": "Lab"})
    before = (MemberObject.objects.count(), Membership.objects.count(), Tenant.objects.get().change_seq)
    response = m365sim.control_session().post(f"{m365sim.url}/_m365sim/tenants/contoso/directory", json=body)
    assert response.status_code == 400
    assert error in response.json()["error"]
    assert (MemberObject.objects.count(), Membership.objects.count(), Tenant.objects.get().change_seq) == before
