"""Directory data with hostile content, as Graph sends it (JSON escapes included): stored cleaned, shown escaped."""

import html
import json
import uuid

import pytest
from django.urls import reverse

from directory.models import DirectoryUser
from directory.writes import apply_user_page
from microsoft import graph
from tests.admin.staff import mfa_client, staff_user
from tests.cast import client_for

pytestmark = pytest.mark.django_db

SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'
LONG = "A" * 10_000
# Raw JSON text: the escapes are decoded by the JSON parser, as when Graph sends them.
HOSTILE_USERS = [
    ("script", f'"{SCRIPT.replace(chr(34), chr(92) + chr(34))}"', SCRIPT, False),
    ("rtl-override", '"admin\\u202egnp.exe"', "admin\ufffdgnp.exe", True),
    ("ten-thousand", f'"{LONG}"', LONG[:256], False),
    ("nul", '"Ann\\u0000Lee"', "AnnLee", True),
    ("lone-high-surrogate", '"Bad \\ud800 name"', "Bad \ufffd name", True),
    ("lone-low-surrogate", '"\\udfffstart"', "\ufffdstart", True),
    ("nul-and-script", '"\\u0000<b>bold</b>"', "<b>bold</b>", True),
]


def graph_page() -> tuple[graph.Page[graph.UserChange], dict[str, tuple[str, bool]]]:
    items, expected = [], {}
    for n, (label, raw_name, stored, normalized) in enumerate(HOSTILE_USERS):
        user_id = str(uuid.uuid5(uuid.NAMESPACE_URL, label))
        text = (
            f'{{"id": "{user_id}", "userPrincipalName": "{label}{n}@contoso.test", "displayName": {raw_name}, '
            f'"mail": null, "accountEnabled": true, "assignedLicenses": []}}'
        )
        items.append(graph._user_change(json.loads(text)))
        expected[user_id] = (stored, normalized)
    return graph.Page(items=items), expected


@pytest.fixture
def hostile(cast) -> dict[str, tuple[str, bool]]:
    page, expected = graph_page()
    changes = apply_user_page(cast.organization.pk, page)
    assert changes.added == len(HOSTILE_USERS)
    return expected


def test_hostile_names_are_stored_as_design_says(cast, hostile):
    for user in DirectoryUser.objects.filter(organization=cast.organization):
        stored, normalized = hostile[str(user.microsoft_id)]
        assert user.display_name == stored
        assert user.normalized is normalized
        assert "\x00" not in user.display_name
        assert len(user.display_name) <= 256


def assert_escaped(body: str) -> None:
    assert "<script>" not in body
    assert "<img src=x" not in body
    assert "<b>bold</b>" not in body
    assert html.escape(SCRIPT, quote=False) in body or "&lt;script&gt;" in body


@pytest.mark.usefixtures("hostile")
def test_the_directory_page_shows_hostile_names_escaped(cast):
    response = client_for(cast.owner).get(f"/o/{cast.organization.slug}/directory/", {"q": ""})
    assert response.status_code == 200
    body = response.content.decode()
    assert_escaped(body)
    assert "&lt;b&gt;bold&lt;/b&gt;" in body
    assert "\ufffd" in body


@pytest.mark.usefixtures("hostile")
def test_django_admin_shows_hostile_names_escaped(cast):
    client = mfa_client(staff_user("root@casportal.test", superuser=True))
    changelist = client.get(reverse("admin:provisioning_directoryuser_changelist"), {"q": "script"})
    assert changelist.status_code == 200
    assert_escaped(changelist.content.decode())
    for user in DirectoryUser.objects.filter(organization=cast.organization):
        change = client.get(reverse("admin:provisioning_directoryuser_change", args=[user.pk]))
        assert change.status_code == 200
        body = change.content.decode()
        assert "<script>alert" not in body
        assert "<b>bold</b>" not in body
