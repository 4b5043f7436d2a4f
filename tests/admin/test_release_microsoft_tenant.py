"""Release the Microsoft 365 tenant: what a grant refused with microsoft_tenant_taken leads to."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import Action, AuditEvent
from connection.models import ConnectionIncident, ServiceAccount
from directory.models import DirectoryUser, SyncRun
from grant.models import GrantAttempt, GrantStep
from organizations.models import Membership, Organization, Policy, ProtectedService, ServiceStatus
from tests.admin.test_support_actions import REASON, activity_of, run_action
from tests.factories import ServiceAccountFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:tenants_organization_changelist"


@pytest.fixture
def bound(cast) -> uuid.UUID:
    """Contoso bound to a Microsoft 365 tenant, granted, synchronizing, with a grant and an incident open."""
    microsoft_tenant_id = uuid.uuid4()
    Organization.objects.filter(pk=cast.organization.pk).update(microsoft_tenant_id=microsoft_tenant_id)
    services = ProtectedService.objects.filter(organization=cast.organization)
    exchange, teams = services.get(kind="exchange-online"), services.get(kind="teams")
    ServiceAccountFactory.create(service=exchange, microsoft_tenant_id=microsoft_tenant_id)
    services.filter(pk=exchange.pk).update(status=ServiceStatus.PROTECTED, authorized_account="admin@contoso.test")
    DirectoryUser.objects.create(
        organization=cast.organization,
        microsoft_id=uuid.uuid4(),
        user_principal_name="alex@contoso.test",
        synced_at=timezone.now(),
    )
    SyncRun.objects.create(organization=cast.organization, service=exchange, kind="delta", trigger="manual")
    GrantAttempt.objects.create(
        organization=cast.organization,
        service=teams,
        user=cast.owner.user,
        step=GrantStep.CONSENT,
        expires_at=timezone.now() + timedelta(minutes=10),
    )
    ConnectionIncident.objects.create(organization=cast.organization, reason="revoked")
    return microsoft_tenant_id


def test_release_unbinds_the_tenant_and_keeps_the_members(cast, bound, operator_client):
    members = set(Membership.objects.filter(organization=cast.organization).values_list("pk", flat=True))
    policies = Policy.objects.filter(organization=cast.organization).count()
    response = run_action(operator_client, CHANGELIST, "release_microsoft_tenant", cast.organization.pk)
    assert response.status_code == 302

    cast.organization.refresh_from_db()
    assert cast.organization.microsoft_tenant_id is None
    assert not Organization.objects.filter(microsoft_tenant_id=bound).exists(), "free for another organization"
    assert set(Membership.objects.filter(organization=cast.organization).values_list("pk", flat=True)) == members
    assert Policy.objects.filter(organization=cast.organization).count() == policies
    assert not ServiceAccount.objects.filter(organization=cast.organization).exists()
    assert not DirectoryUser.objects.filter(organization=cast.organization).exists()
    services = ProtectedService.objects.filter(organization=cast.organization)
    assert set(services.values_list("status", flat=True)) == {ServiceStatus.NOT_GRANTED}
    assert SyncRun.objects.get(organization=cast.organization).status == "failed"
    assert GrantAttempt.objects.get(organization=cast.organization).step == GrantStep.CANCELLED
    assert ConnectionIncident.objects.get(organization=cast.organization).closed_at is not None

    event = AuditEvent.objects.get(action=Action.MICROSOFT_TENANT_UNBOUND)
    assert (event.actor_email, event.organization, event.target) == (
        "operator@casportal.test",
        cast.organization,
        str(bound),
    )
    assert event.details == {"support": True, "reason": REASON}
    activity = activity_of(cast)
    assert "Microsoft 365 tenant unbound" in activity
    assert "Support: operator@casportal.test" in activity
    assert "ticket 4711" in activity


def test_an_unbound_organization_has_nothing_to_release(cast, operator_client):
    run_action(operator_client, CHANGELIST, "release_microsoft_tenant", cast.organization.pk)
    assert not AuditEvent.objects.filter(action=Action.MICROSOFT_TENANT_UNBOUND).exists()


def test_read_only_support_cannot_release(cast, bound, reader_staff_client):
    run_action(reader_staff_client, CHANGELIST, "release_microsoft_tenant", cast.organization.pk)
    assert Organization.objects.get(pk=cast.organization.pk).microsoft_tenant_id == bound
    assert not AuditEvent.objects.filter(action=Action.MICROSOFT_TENANT_UNBOUND).exists()
