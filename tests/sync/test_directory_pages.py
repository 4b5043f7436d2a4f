import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from directory.models import DirectoryGroup, DirectoryUser, GroupMembership, GroupType, MemberType
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


def users(organization, count: int, prefix: str = "user") -> list[DirectoryUser]:
    now = timezone.now()
    return DirectoryUser.objects.bulk_create(
        DirectoryUser(
            organization=organization,
            microsoft_id=uuid.uuid4(),
            user_principal_name=f"{prefix}{n:04d}@contoso.test",
            display_name=f"{prefix.title()} {n}",
            synced_at=now,
        )
        for n in range(count)
    )


def test_users_are_searchable_and_paginated(cast, reader_client):
    users(cast.organization, 120)
    url = reverse("directory_users", args=[cast.organization.slug])
    first = reader_client.get(url).content.decode()
    assert "user0000@contoso.test" in first
    assert "Page 1 of 3" in first
    found = reader_client.get(url, {"q": "user0117"}).content.decode()
    assert "user0117@contoso.test" in found
    assert "user0000@contoso.test" not in found


def test_page_links_keep_the_search(cast, reader_client):
    users(cast.organization, 120)
    url = reverse("directory_users", args=[cast.organization.slug])
    first = reader_client.get(url, {"q": "user00"}).content.decode()
    assert "Page 1 of 2" in first
    assert 'href="?q=user00&amp;page=2"' in first
    second = reader_client.get(url, {"q": "user00", "page": "2"}).content.decode()
    assert "user0099@contoso.test" in second
    assert "user0100@contoso.test" not in second
    assert 'href="?q=user00&amp;page=1"' in second


def test_another_organizations_directory_never_shows(cast, reader_client):
    users(OrganizationFactory.create(), 3, prefix="foreigner")
    page = reader_client.get(reverse("directory_users", args=[cast.organization.slug]), {"q": "foreigner"})
    assert "foreigner" not in page.content.decode().replace('value="foreigner"', "").replace("“foreigner”", "")
    foreign_group = DirectoryGroup.objects.create(
        organization=OrganizationFactory.create(),
        microsoft_id=uuid.uuid4(),
        display_name="Secret",
        group_type=GroupType.SECURITY,
        synced_at=timezone.now(),
    )
    assert (
        reader_client.get(
            reverse("directory_group", args=[cast.organization.slug, foreign_group.microsoft_id])
        ).status_code
        == 404
    )


def test_a_groups_members_are_listed(cast, reader_client):
    members = users(cast.organization, 3)
    group = DirectoryGroup.objects.create(
        organization=cast.organization,
        microsoft_id=uuid.uuid4(),
        display_name="Sales",
        group_type=GroupType.SECURITY,
        synced_at=timezone.now(),
    )
    GroupMembership.objects.bulk_create(
        GroupMembership(
            organization=cast.organization,
            group_id=group.microsoft_id,
            member_id=user.microsoft_id,
            member_type=MemberType.USER,
            synced_at=timezone.now(),
        )
        for user in members[:2]
    )
    page = reader_client.get(
        reverse("directory_group", args=[cast.organization.slug, group.microsoft_id])
    ).content.decode()
    assert "user0000@contoso.test" in page
    assert "user0001@contoso.test" in page
    assert "user0002@contoso.test" not in page


def test_the_directory_pages_run_a_bounded_number_of_queries(cast, reader_client):
    url = reverse("directory_users", args=[cast.organization.slug])
    users(cast.organization, 5, prefix="early")
    reader_client.get(url)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert reader_client.get(url).status_code == 200
        return len(queries)

    few = count()
    users(cast.organization, 500)
    assert count() == few <= 12


def names_in_order(body: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r'<th scope="row">(.*?)</th>', body, re.S)]


def group(organization, name: str, **fields) -> DirectoryGroup:
    return DirectoryGroup.objects.create(
        organization=organization,
        microsoft_id=uuid.uuid4(),
        display_name=name,
        group_type=fields.pop("group_type", GroupType.SECURITY),
        synced_at=timezone.now(),
        **fields,
    )


def test_groups_are_sorted_as_a_person_reads_them(cast, reader_client):
    for n in (18, 37, 40, 7, 9):
        group(cast.organization, f"Training {n}")
    body = reader_client.get(reverse("directory_groups", args=[cast.organization.slug])).content.decode()
    assert names_in_order(body) == [f"Training {n}" for n in (7, 9, 18, 37, 40)]


def test_users_are_sorted_with_numbers_by_value(cast, reader_client):
    now = timezone.now()
    for n in (10, 2, 1):
        DirectoryUser.objects.create(
            organization=cast.organization,
            microsoft_id=uuid.uuid4(),
            user_principal_name=f"trainee{n}@contoso.test",
            synced_at=now,
        )
    body = reader_client.get(reverse("directory_users", args=[cast.organization.slug])).content.decode()
    assert names_in_order(body) == [f"trainee{n}@contoso.test" for n in (1, 2, 10)]


def test_the_directory_says_how_many_there_are_and_how_many_match(cast, reader_client):
    users(cast.organization, 120)
    url = reverse("directory_users", args=[cast.organization.slug])
    assert "120 users synchronized." in reader_client.get(url).content.decode()
    assert "10 of 120 users match." in reader_client.get(url, {"q": "user011"}).content.decode()
    group(cast.organization, "Sales")
    groups_url = reverse("directory_groups", args=[cast.organization.slug])
    assert "1 group synchronized." in reader_client.get(groups_url).content.decode()


def test_users_are_filtered_by_account_and_license(cast, reader_client):
    now = timezone.now()
    for upn, enabled, licensed in [
        ("on.licensed@contoso.test", True, True),
        ("on.unlicensed@contoso.test", True, False),
        ("off.licensed@contoso.test", False, True),
        ("off.unlicensed@contoso.test", False, False),
    ]:
        DirectoryUser.objects.create(
            organization=cast.organization,
            microsoft_id=uuid.uuid4(),
            user_principal_name=upn,
            account_enabled=enabled,
            is_licensed=licensed,
            synced_at=now,
        )
    url = reverse("directory_users", args=[cast.organization.slug])

    def listed(**query: str) -> list[str]:
        return names_in_order(reader_client.get(url, query).content.decode())

    assert listed(account="disabled") == ["off.licensed@contoso.test", "off.unlicensed@contoso.test"]
    assert listed(license="unlicensed") == ["off.unlicensed@contoso.test", "on.unlicensed@contoso.test"]
    assert listed(account="enabled", license="licensed") == ["on.licensed@contoso.test"]
    refused = reader_client.get(url, {"account": "sometimes"})
    assert refused.status_code == 400
    assert "Not applied: Account" in refused.content.decode()
    assert len(names_in_order(refused.content.decode())) == 4  # nothing filtered on a filter not understood


def test_mail_is_shown_only_where_it_differs_from_the_user_principal_name(cast, reader_client):
    now = timezone.now()
    for upn, mail in [("same@contoso.test", "Same@contoso.test"), ("alias@contoso.test", "alex.wilber@contoso.com")]:
        DirectoryUser.objects.create(
            organization=cast.organization, microsoft_id=uuid.uuid4(), user_principal_name=upn, mail=mail, synced_at=now
        )
    body = reader_client.get(reverse("directory_users", args=[cast.organization.slug])).content.decode()
    assert "alex.wilber@contoso.com" in body
    assert "Same@contoso.test" not in body
    assert "same as the user principal name" in body


def test_a_cleaned_name_is_marked_and_the_mark_explained(cast, reader_client):
    now = timezone.now()
    DirectoryUser.objects.create(
        organization=cast.organization,
        microsoft_id=uuid.uuid4(),
        user_principal_name="eve@contoso.test",
        display_name="Eve \ufffdHelpdesk\ufffd",
        normalized=True,
        synced_at=now,
    )
    url = reverse("directory_users", args=[cast.organization.slug])
    body = reader_client.get(url).content.decode()
    assert 'href="#normalized-note"' in body
    assert 'id="normalized-note"' in body
    assert "right-to-left overrides" in body
    DirectoryUser.objects.update(normalized=False)
    assert 'id="normalized-note"' not in reader_client.get(url).content.decode()


def test_a_groups_members_are_counted_by_type_and_filtered_by_it(cast, reader_client):
    sales = group(cast.organization, "Sales")
    members = users(cast.organization, 2)
    sub = group(cast.organization, "Sales EMEA")
    rows = [(user.microsoft_id, MemberType.USER) for user in members] + [
        (sub.microsoft_id, MemberType.GROUP),
        (uuid.uuid4(), MemberType.DEVICE),
        (uuid.uuid4(), MemberType.CONTACT),
        (uuid.uuid4(), MemberType.CONTACT),
    ]
    GroupMembership.objects.bulk_create(
        GroupMembership(
            organization=cast.organization,
            group_id=sales.microsoft_id,
            member_id=member_id,
            member_type=member_type,
            synced_at=timezone.now(),
        )
        for member_id, member_type in rows
    )
    url = reverse("directory_group", args=[cast.organization.slug, sales.microsoft_id])
    everything = reader_client.get(url).content.decode()
    assert "6 members: 2 users, 1 group, 1 device, 2 organizational contacts." in everything
    devices = reader_client.get(url, {"type": MemberType.DEVICE}).content.decode()
    assert devices.count("<td>Device</td>") == 1
    assert "Organizational contact</td>" not in devices
    assert "user0000@contoso.test" not in devices
    only_users = reader_client.get(url, {"type": MemberType.USER}).content.decode()
    assert "user0000@contoso.test" in only_users
    assert "Sales EMEA" not in only_users
    groups_page = reader_client.get(reverse("directory_groups", args=[cast.organization.slug])).content.decode()
    assert re.search(
        r'Sales</a>\s*</th>\s*<td>Security</td>\s*<td>.*?</td>\s*<td class="text-end">6</td>', groups_page, re.S
    )
