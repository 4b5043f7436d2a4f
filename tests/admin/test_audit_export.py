import csv
import io

import pytest
from django.urls import reverse

from audit.export import EXPORT_LIMIT
from audit.models import Action, AuditEvent
from audit.services import record_event

pytestmark = pytest.mark.django_db

EXPORT = reverse("admin:audit_auditevent_export")


def rows(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_export_is_the_filtered_list(cast, reader_staff_client):
    record_event(
        Action.POLICY_ENABLED, actor=cast.owner.user, organization=cast.organization, target="Default DLP policy"
    )
    record_event(
        Action.POLICY_DISABLED, actor=cast.outsider.user, organization=cast.outsider.organization, target="Foreign"
    )
    record_event(Action.LOGIN_FAILED, actor=None, target='=HYPERLINK("http://evil")')
    changelist = reader_staff_client.get(
        reverse("admin:audit_auditevent_changelist"), {"organization__id__exact": cast.organization.pk}
    )
    assert f"{EXPORT}?organization__id__exact={cast.organization.pk}" in changelist.content.decode()

    exported = rows(
        reader_staff_client.get(
            EXPORT, {"organization__id__exact": cast.organization.pk, "action__exact": Action.POLICY_ENABLED}
        )
    )
    assert exported[0][:4] == ["time (UTC)", "organization", "actor", "action"]
    assert [row[1:5] for row in exported[1:]] == [
        ["contoso", "owner@contoso.test", "Policy enabled", "Default DLP policy"]
    ]
    searched = rows(reader_staff_client.get(EXPORT, {"q": "HYPERLINK"}))
    assert searched[1][4].startswith("'=")  # no formula for a spreadsheet


def test_the_export_stops_at_the_cap(cast, reader_staff_client):
    AuditEvent.objects.bulk_create(
        AuditEvent(action=Action.LOGIN, organization=cast.organization, target=f"n{n}") for n in range(EXPORT_LIMIT + 5)
    )
    assert len(rows(reader_staff_client.get(EXPORT))) == EXPORT_LIMIT + 1


@pytest.mark.usefixtures("cast")
def test_customers_cannot_export(owner_client):
    assert owner_client.get(EXPORT).status_code == 302  # to the login page
