import uuid

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from directory.models import DirectoryGroup, DirectoryUser
from support.admin_base import COUNT_LIMIT

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:provisioning_directoryuser_changelist")
# Session, user, permissions, credential banner, bounded count, tenant filter choices, the page of rows.
QUERY_BOUND = 12


@pytest.fixture
def ten_thousand_users(cast) -> list[uuid.UUID]:
    now = timezone.now()
    ids = [uuid.uuid4() for _ in range(COUNT_LIMIT)]
    DirectoryUser.objects.bulk_create(
        (
            DirectoryUser(
                organization=cast.organization,
                microsoft_id=microsoft_id,
                user_principal_name=f"user{n:05}@contoso.test",
                display_name=f"User {n:05}",
                synced_at=now,
            )
            for n, microsoft_id in enumerate(ids)
        ),
        batch_size=2000,
    )
    return ids


@pytest.mark.usefixtures("ten_thousand_users")
def test_the_changelist_of_10000_users_renders_in_a_bounded_number_of_queries(cast, reader_staff_client):
    for params in ({}, {"organization__id__exact": cast.organization.pk}, {"q": "user0004"}, {"p": "3"}):
        with CaptureQueriesContext(connection) as queries:
            response = reader_staff_client.get(CHANGELIST, params)
        assert response.status_code == 200
        assert len(queries) <= QUERY_BOUND, [q["sql"][:120] for q in queries]
        assert not any("COUNT(*)" in q["sql"] and "LIMIT" not in q["sql"] for q in queries)
    assert "10000 directory users" in reader_staff_client.get(CHANGELIST).content.decode()


@pytest.mark.usefixtures("ten_thousand_users")
def test_more_rows_than_the_count_limit_say_so(cast, reader_staff_client):
    DirectoryUser.objects.create(
        organization=cast.organization,
        microsoft_id=uuid.uuid4(),
        user_principal_name="extra@contoso.test",
        synced_at=timezone.now(),
    )
    assert "More than 10000 directory users" in reader_staff_client.get(CHANGELIST).content.decode()


@pytest.mark.usefixtures("cast")
def test_search_by_prefix_and_by_microsoft_id(reader_staff_client, ten_thousand_users):
    body = reader_staff_client.get(CHANGELIST, {"q": "user0004"}).content.decode()
    assert "user00042@contoso.test" in body
    assert "10 directory users" in body
    by_id = reader_staff_client.get(CHANGELIST, {"q": str(ten_thousand_users[7])}).content.decode()
    assert "user00007@contoso.test" in by_id
    assert "1 directory user" in by_id


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the prefix indexes are PostgreSQL's")
@pytest.mark.parametrize(
    ("model", "indexes"),
    [
        (DirectoryUser, {"directory_user_upn_prefix", "directory_user_name_prefix"}),
        (DirectoryGroup, {"directory_group_name_prefix"}),
    ],
)
def test_name_searches_can_use_the_prefix_indexes(rf, model, indexes):
    queryset, _ = admin.site._registry[model].get_search_results(rf.get("/admin/"), model.objects.all(), "adele")
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # an empty test table would be scanned otherwise
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert {index for index in indexes if index in plan} == indexes, plan
