"""All organizations says what each organization's services really cover: a testing scope reads "Testing · N users"
with the way to extend it, a grant in progress reads as such, in the same number of queries however many there are."""

import re
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from directory.models import SelectedUser, SyncMode, SyncSettings
from grant.models import GrantAttempt, GrantStep
from organizations.models import ProtectedService, Role, ServiceStatus
from tests.cast import client_for
from tests.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

URL = reverse("all_organizations")


def in_testing(organization, users: int) -> None:
    SyncSettings.objects.filter(organization=organization).update(mode=SyncMode.CERTAIN)
    ProtectedService.objects.filter(organization=organization, kind="exchange-online").update(
        status=ServiceStatus.PROTECTED
    )
    SelectedUser.objects.bulk_create(
        SelectedUser(organization=organization, microsoft_id=uuid.uuid4(), user_principal_name=f"u{n}@x.test")
        for n in range(users)
    )


def grant_in_progress(organization, user) -> None:
    service = ProtectedService.objects.get(organization=organization, kind="onedrive")
    GrantAttempt.objects.create(
        organization=organization,
        service=service,
        user=user,
        session_key_hash="0" * 64,
        sync_mode=SyncMode.ALL,
        step=GrantStep.CONSENT,
        expires_at=timezone.now() + timedelta(minutes=5),
    )


def row_of(page: str, name: str) -> str:
    return page.split(f">{name}</a>", 1)[1].split("</tr>", 1)[0]


def test_testing_scope_and_grant_in_progress_show_in_each_row(cast):
    other = OrganizationFactory.create(name="Fabrikam", slug="fabrikam")
    MembershipFactory.create(organization=other, user=cast.owner.user, role=Role.READ_ONLY)
    in_testing(cast.organization, 6)
    grant_in_progress(cast.organization, cast.owner.user)
    in_testing(other, 1)
    page = client_for(cast.owner).get(URL).content.decode()
    contoso, fabrikam = row_of(page, "Contoso"), row_of(page, "Fabrikam")
    assert "Testing · 6 users</span>" in contoso
    assert "Grant in progress</span>" in contoso
    assert contoso.count(">Not granted</span>") == 2
    assert reverse("extend_to_all_users", args=["contoso"]) in contoso
    assert "Testing · 1 user</span>" in fabrikam
    assert reverse("extend_to_all_users", args=["fabrikam"]) not in fabrikam  # read-only there
    assert ">Protected</span>" not in page


def test_an_expired_attempt_is_not_in_progress(cast):
    grant_in_progress(cast.organization, cast.owner.user)
    GrantAttempt.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    page = client_for(cast.owner).get(URL).content.decode()
    assert "Grant in progress" not in page


def test_the_scope_costs_no_query_per_organization(cast):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client_for(cast.owner).get(URL).status_code == 200
        return len(captured)

    queries()
    baseline = queries()
    for n in range(8):
        organization = OrganizationFactory.create()
        MembershipFactory.create(organization=organization, user=cast.owner.user, role=Role.ADMIN)
        in_testing(organization, n + 1)
        grant_in_progress(organization, cast.owner.user)
    assert queries() == baseline
    assert len(re.findall(r"Testing · \d+ users?</span>", client_for(cast.owner).get(URL).content.decode())) == 8
