"""Offboarding an organization: its Microsoft 365 data and its people go, the organization and its audit stay."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from audit.models import Action, AuditEvent
from connection.models import ConnectionIncident, ServiceAccount
from directory.models import DirectoryDomain, DirectoryGroup, DirectoryUser, GroupMembership, SyncRun
from grant.models import GrantAttempt
from organizations.models import Membership, Policy, ProtectedService, ServiceStatus, Tenant
from support.lifecycle import offboard_tenant
from support.staff import OPERATOR_GROUP, READ_ONLY_GROUP
from tests.admin.staff import mfa_client, staff_user
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])

REASON = "Contract ended on 2026-11-30 (ticket 5120)."
OFFBOARDED = (GroupMembership, DirectoryUser, DirectoryGroup, DirectoryDomain, SyncRun, ServiceAccount, GrantAttempt)


@pytest.fixture
def synchronized(cast, driver):
    """Contoso granted, synchronized, with an open connection incident; and Fabrikam, another organization."""
    assert driver.grant().status_code == 302
    driver.tasks.run()
    ConnectionIncident.objects.create(tenant=cast.tenant, reason="revoked")
    fabrikam = cast.outsider.tenant
    SyncRun.objects.create(tenant=fabrikam, kind="full", trigger="grant", status="succeeded")
    for model in OFFBOARDED[:-2]:
        assert model.objects.filter(tenant=cast.tenant).exists(), model
    return cast


def test_offboarding_deletes_the_directory_runs_and_members_and_keeps_the_audit(synchronized, db):
    cast = synchronized
    microsoft_tenant_id = Tenant.objects.get(pk=cast.tenant.pk).microsoft_tenant_id
    assert microsoft_tenant_id is not None
    events_before = set(AuditEvent.objects.filter(tenant=cast.tenant).values_list("pk", flat=True))
    policies_before = Policy.objects.filter(tenant=cast.tenant).count()

    deleted = offboard_tenant(tenant=cast.tenant, actor=None, reason=REASON)

    for model in (*OFFBOARDED, ConnectionIncident, Membership):
        assert not model.objects.filter(tenant=cast.tenant).exists(), model
    assert deleted["directory users"] == 23  # the 20 seeded users and admin@, pra@, alex@
    tenant = Tenant.objects.get(pk=cast.tenant.pk)
    assert tenant.microsoft_tenant_id is None
    assert set(ProtectedService.objects.filter(tenant=tenant).values_list("status", flat=True)) == {
        ServiceStatus.NOT_GRANTED
    }
    assert not ProtectedService.objects.filter(tenant=tenant).exclude(authorized_account="").exists()
    assert Policy.objects.filter(tenant=tenant).count() == policies_before  # configuration, kept
    assert events_before < set(AuditEvent.objects.filter(tenant=tenant).values_list("pk", flat=True))
    event = AuditEvent.objects.get(action=Action.ORGANIZATION_OFFBOARDED)
    assert event.details["reason"] == REASON
    assert event.details["microsoft_tenant_id"] == str(microsoft_tenant_id)
    assert event.details["deleted"]["memberships"] == 2
    # Another organization is untouched.
    assert Membership.objects.filter(pk=cast.outsider.pk).exists()
    assert SyncRun.objects.filter(tenant=cast.outsider.tenant).count() == 1


def test_a_member_of_several_organizations_keeps_the_others(synchronized):
    cast = synchronized
    elsewhere = MembershipFactory(user=cast.owner.user)
    offboard_tenant(tenant=cast.tenant, actor=None, reason=REASON)
    assert list(Membership.objects.filter(user=cast.owner.user)) == [elsewhere]


def run_offboard_action(client, tenant: Tenant, reason: str | None):
    data = {"action": "offboard_organization", ACTION_CHECKBOX_NAME: [str(tenant.pk)]}
    if reason is not None:
        data |= {"confirm": "yes", "reason": reason}
    return client.post(reverse("admin:tenants_tenant_changelist"), data)


def test_operators_offboard_in_admin_with_a_reason(synchronized):
    cast = synchronized
    operator = mfa_client(staff_user("operator@casportal.test", group=OPERATOR_GROUP))
    form = run_offboard_action(operator, cast.tenant, reason=None)
    assert form.status_code == 200
    assert "Reason" in form.content.decode()
    assert DirectoryUser.objects.filter(tenant=cast.tenant).exists()

    assert run_offboard_action(operator, cast.tenant, reason=REASON).status_code == 302
    assert not DirectoryUser.objects.filter(tenant=cast.tenant).exists()
    event = AuditEvent.objects.get(action=Action.ORGANIZATION_OFFBOARDED)
    assert (event.actor_email, event.tenant, event.details["reason"]) == (
        "operator@casportal.test",
        cast.tenant,
        REASON,
    )


def test_read_only_support_cannot_offboard(synchronized):
    cast = synchronized
    reader = mfa_client(staff_user("reader@casportal.test", group=READ_ONLY_GROUP))
    run_offboard_action(reader, cast.tenant, reason=REASON)
    assert DirectoryUser.objects.filter(tenant=cast.tenant).exists()
    assert not AuditEvent.objects.filter(action=Action.ORGANIZATION_OFFBOARDED).exists()
