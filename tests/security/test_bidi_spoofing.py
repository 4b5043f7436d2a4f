"""Bidirectional-text spoofing: display names with Unicode's bidi controls, synchronized from the simulator through
the real grant and sync, are stored with each control replaced by U+FFFD and flagged normalized, and no page that
shows directory text (Directory, a group's members, Django admin) carries a control."""

import re

import pytest
from django.urls import reverse

from directory.models import DirectoryGroup, DirectoryUser
from directory.normalize import clean_text
from m365sim import services as sim
from tests.admin.staff import mfa_client, staff_user
from tests.cast import client_for

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])

BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
# (the name Microsoft sends, as the portal stores it)
SPOOFS = {
    "zqx17 \u2067\u202eAdmin\u2069 fake": "zqx17 \ufffd\ufffdAdmin\ufffd fake",
    "Eve \u202dHelpdesk\u202c": "Eve \ufffdHelpdesk\ufffd",
    "gnp\u202a.exe\u202b\u202c": "gnp\ufffd.exe\ufffd\ufffd",
    "\u2066Mallory\u2069 \u2068CEO\u2069": "\ufffdMallory\ufffd \ufffdCEO\ufffd",
    "Marks \u200e\u200f\u061c": "Marks \ufffd\ufffd\ufffd",
}


@pytest.mark.parametrize(("sent", "stored"), SPOOFS.items())
def test_each_bidi_control_is_replaced_and_flagged(sent, stored):
    assert clean_text(sent, 256) == (stored, True)


def test_plain_right_to_left_text_is_kept_as_it_is():
    assert clean_text("\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627", 256) == (
        "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",
        False,
    )


@pytest.fixture
def spoofed(cast, driver, contoso):
    """Contoso's directory with the spoofing names on users and a group, granted and synchronized."""
    group = sim.add_group(contoso, display_name="zqx17 \u2067\u202eSupport\u2069 team")
    for n, name in enumerate(SPOOFS):
        sim.add_member(
            group, sim.add_user(contoso, user_principal_name=f"spoof{n}@contoso.onmicrosoft.com", display_name=name)
        )
    assert driver.grant().status_code == 302
    driver.tasks.run()
    return cast


def test_the_sync_stores_the_names_neutralized_and_flagged(spoofed):
    for n, stored in enumerate(SPOOFS.values()):
        user = DirectoryUser.objects.get(
            organization=spoofed.organization, user_principal_name=f"spoof{n}@contoso.onmicrosoft.com"
        )
        assert (user.display_name, user.normalized) == (stored, True)
    group = DirectoryGroup.objects.get(organization=spoofed.organization, display_name__startswith="zqx17")
    assert (group.display_name, group.normalized) == ("zqx17 \ufffd\ufffdSupport\ufffd team", True)
    untouched = DirectoryUser.objects.get(
        organization=spoofed.organization, user_principal_name="alex@contoso.onmicrosoft.com"
    )
    assert untouched.normalized is False


def shown(response) -> str:
    assert response.status_code == 200
    body = response.content.decode()
    assert not BIDI_CONTROLS.search(body)
    return body


def test_directory_pages_show_no_bidi_control(spoofed):
    client = client_for(spoofed.owner)
    slug = spoofed.organization.slug
    users_page = shown(client.get(reverse("directory_users", args=[slug]), {"q": "spoof"}))
    for stored in SPOOFS.values():
        assert stored in users_page
    groups_page = shown(client.get(reverse("directory_groups", args=[slug]), {"q": "zqx17"}))
    assert "zqx17 \ufffd\ufffdSupport\ufffd team" in groups_page
    group = DirectoryGroup.objects.get(organization=spoofed.organization, display_name__startswith="zqx17")
    members_page = shown(client.get(reverse("directory_group", args=[slug, group.microsoft_id])))
    for stored in SPOOFS.values():
        assert stored in members_page


def test_django_admin_shows_no_bidi_control(spoofed):
    client = mfa_client(staff_user("root@casportal.test", superuser=True))
    changelist = shown(client.get(reverse("admin:provisioning_directoryuser_changelist"), {"q": "spoof"}))
    assert "zqx17 \ufffd\ufffdAdmin\ufffd fake" in changelist
    for user in DirectoryUser.objects.filter(organization=spoofed.organization, normalized=True):
        shown(client.get(reverse("admin:provisioning_directoryuser_change", args=[user.pk])))
    group = DirectoryGroup.objects.get(organization=spoofed.organization, display_name__startswith="zqx17")
    shown(client.get(reverse("admin:provisioning_directorygroup_change", args=[group.pk])))


def test_the_picker_shows_no_bidi_control(driver, contoso):
    group = sim.add_group(contoso, display_name="zqx17 \u2067\u202eSupport\u2069 team")
    for n, name in enumerate(SPOOFS):
        sim.add_member(
            group, sim.add_user(contoso, user_principal_name=f"spoof{n}@contoso.onmicrosoft.com", display_name=name)
        )
    response = driver.grant(mode="certain")
    picker = driver.portal("get", response["Location"])["Location"]
    found = shown(driver.portal("get", picker, {"q": "zqx17"}))
    assert "zqx17 \ufffd\ufffdSupport\ufffd team" in found
    members = shown(driver.portal("get", picker, {"group": str(group.id)}))
    for stored in SPOOFS.values():
        assert stored in members
    driver.portal(
        "post", picker.replace("/users/", "/users/add/"), {"user_principal_name": "spoof0@contoso.onmicrosoft.com"}
    )
    chosen = shown(driver.portal("get", picker))
    assert "zqx17 \ufffd\ufffdAdmin\ufffd fake" in chosen
