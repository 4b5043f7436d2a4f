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
