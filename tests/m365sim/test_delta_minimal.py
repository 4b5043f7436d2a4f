"""Delta with `Prefer: return=minimal`: a later round sends only the properties changed since the round before;
and the portal never asks for it, since its writes take every selected property as the object's whole state."""

import pytest

from m365sim import services as sim
from m365sim.models import User
from m365sim.testing import WSGITransport
from microsoft import graph
from microsoft.http import MicrosoftSession
from tests.m365sim.test_delta_edges import a_group_with_members, follow

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])

MINIMAL = {"Prefer": "return=minimal"}
SELECT = "$select=displayName,jobTitle,userPrincipalName,accountEnabled"


def delta_link_after_a_round(get, resource: str) -> str:
    return follow(get, resource)[-1]["@odata.deltaLink"]


def changes(get, delta_link: str, **headers: str) -> list[dict]:
    return [entry for page in follow(get, delta_link, **headers) for entry in page["value"]]


def test_a_later_round_sends_only_the_changed_properties(get, contoso_consented):
    link = delta_link_after_a_round(get, f"users/delta?{SELECT}")
    alex = User.objects.get(tenant=contoso_consented, user_principal_name="alex@contoso.onmicrosoft.com")
    sim.update_user(alex, job_title="Auditor")

    minimal = changes(get, link, **MINIMAL)
    full = changes(get, link)

    assert minimal == [{"id": str(alex.id), "jobTitle": "Auditor"}]
    assert full[0]["displayName"] == alex.display_name
    assert set(full[0]) == {"id", "displayName", "jobTitle", "userPrincipalName", "accountEnabled"}


def test_a_property_set_to_null_is_sent_as_null(get, contoso_consented):
    link = delta_link_after_a_round(get, f"users/delta?{SELECT}")
    alex = User.objects.get(tenant=contoso_consented, user_principal_name="alex@contoso.onmicrosoft.com")
    sim.update_user(alex, job_title="")

    assert changes(get, link, **MINIMAL) == [{"id": str(alex.id), "jobTitle": None}]


def test_an_object_created_since_the_last_round_comes_whole(get, contoso_consented):
    link = delta_link_after_a_round(get, f"users/delta?{SELECT}")
    new = sim.add_user(contoso_consented, user_principal_name="new@contoso.onmicrosoft.com", display_name="New")

    assert changes(get, link, **MINIMAL) == [
        {
            "id": str(new.id),
            "displayName": "New",
            "jobTitle": None,
            "userPrincipalName": "new@contoso.onmicrosoft.com",
            "accountEnabled": True,
        }
    ]


def test_a_group_whose_members_alone_changed_sends_its_id_and_members(get, contoso_consented):
    group = a_group_with_members(contoso_consented, "Auditors", 2)
    link = delta_link_after_a_round(get, "groups/delta?$select=displayName,description,members")
    newcomer = User.objects.filter(tenant=contoso_consented).exclude(memberships__group=group).first()
    assert newcomer is not None
    sim.add_member(group, newcomer)

    entry = changes(get, link, **MINIMAL)[0]

    assert set(entry) == {"id", "members@delta"}
    assert entry["members@delta"] == [{"@odata.type": "#microsoft.graph.user", "id": str(newcomer.id)}]


def test_the_preference_applied_says_so(get):
    response = get("users/delta", Prefer="return=minimal, odata.maxpagesize=50")

    assert set(response.headers["Preference-Applied"].split(", ")) == {"odata.maxpagesize=50", "return=minimal"}


def test_the_portal_never_asks_for_minimal_delta(m365sim, contoso_consented, monkeypatch):
    sent: list[str] = []
    transport = WSGITransport()
    original = transport.send

    def recording_send(request, **kwargs):
        sent.append(request.headers.get("Prefer", ""))
        return original(request, **kwargs)

    monkeypatch.setattr(transport, "send", recording_send)
    monkeypatch.setattr(MicrosoftSession, "transport_overrides", {f"{m365sim.url}/": transport})
    client = graph.GraphClient(str(contoso_consented.id))

    for first in (client.users_delta, client.groups_delta):
        page = first()
        while page.next_link:
            page = first(page.next_link)
        assert page.delta_link
    assert len(sent) >= 2
    assert not any("return=minimal" in prefer for prefer in sent)
