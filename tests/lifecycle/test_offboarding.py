"""Offboarding an organization: its Microsoft 365 data and its people go, the organization and its audit stay."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from audit.models import Action, AuditEvent
from connection.models import ConnectionIncident, ServiceAccount
from directory.models import DirectoryDomain, DirectoryGroup, DirectoryUser, GroupMembership, SyncRun
from grant.models import GrantAttempt
from organizations.models import Membership, Organization, Policy, ProtectedService, ServiceStatus
from support.lifecycle import offboard_organization
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
    ConnectionIncident.objects.create(organization=cast.organization, reason="revoked")
    fabrikam = cast.outsider.organization
    SyncRun.objects.create(organization=fabrikam, kind="full", trigger="grant", status="succeeded")
    for model in OFFBOARDED[:-2]:
        assert model.objects.filter(organization=cast.organization).exists(), model
    return cast


@pytest.mark.usefixtures("db")
def test_offboarding_deletes_the_directory_runs_and_members_and_keeps_the_audit(synchronized):
    cast = synchronized
    microsoft_tenant_id = Organization.objects.get(pk=cast.organization.pk).microsoft_tenant_id
    assert microsoft_tenant_id is not None
    events_before = set(AuditEvent.objects.filter(organization=cast.organization).values_list("pk", flat=True))
    policies_before = Policy.objects.filter(organization=cast.organization).count()

    deleted = offboard_organization(organization=cast.organization, actor=None, reason=REASON)

    for model in (*OFFBOARDED, ConnectionIncident, Membership):
        assert not model.objects.filter(organization=cast.organization).exists(), model
    assert deleted["directory users"] == 23  # the 20 seeded users and admin@, pra@, alex@
    organization = Organization.objects.get(pk=cast.organization.pk)
    assert organization.microsoft_tenant_id is None
    assert set(ProtectedService.objects.filter(organization=organization).values_list("status", flat=True)) == {
        ServiceStatus.NOT_GRANTED
    }
    assert not ProtectedService.objects.filter(organization=organization).exclude(authorized_account="").exists()
    assert Policy.objects.filter(organization=organization).count() == policies_before  # configuration, kept
    assert events_before < set(AuditEvent.objects.filter(organization=organization).values_list("pk", flat=True))
    event = AuditEvent.objects.get(action=Action.ORGANIZATION_OFFBOARDED)
    assert event.details["reason"] == REASON
    assert event.details["microsoft_tenant_id"] == str(microsoft_tenant_id)
    assert event.details["deleted"]["memberships"] == 2
    # Another organization is untouched.
    assert Membership.objects.filter(pk=cast.outsider.pk).exists()
    assert SyncRun.objects.filter(organization=cast.outsider.organization).count() == 1


@pytest.mark.usefixtures("db")
def test_offboarding_unbinds_the_tenant_as_the_release_does(synchronized):
    cast = synchronized
    microsoft_tenant_id = Organization.objects.get(pk=cast.organization.pk).microsoft_tenant_id
    offboard_organization(organization=cast.organization, actor=None, reason=REASON)
    event = AuditEvent.objects.get(action=Action.MICROSOFT_TENANT_UNBOUND)
    assert (event.organization, event.target) == (cast.organization, str(microsoft_tenant_id))
    assert event.details == {"support": True, "reason": REASON}


def test_a_member_of_several_organizations_keeps_the_others(synchronized):
    cast = synchronized
    elsewhere = MembershipFactory.create(user=cast.owner.user)
    offboard_organization(organization=cast.organization, actor=None, reason=REASON)
    assert list(Membership.objects.filter(user=cast.owner.user)) == [elsewhere]


def run_offboard_action(client, organization: Organization, reason: str | None):
    data = {"action": "offboard_organization", ACTION_CHECKBOX_NAME: [str(organization.pk)]}
    if reason is not None:
        data |= {"confirm": "yes", "reason": reason}
    return client.post(reverse("admin:tenants_organization_changelist"), data)


def test_operators_offboard_in_admin_with_a_reason(synchronized):
    cast = synchronized
    operator = mfa_client(staff_user("operator@casportal.test", group=OPERATOR_GROUP))
    form = run_offboard_action(operator, cast.organization, reason=None)
    assert form.status_code == 200
    assert "Reason" in form.content.decode()
    assert DirectoryUser.objects.filter(organization=cast.organization).exists()

    assert run_offboard_action(operator, cast.organization, reason=REASON).status_code == 302
    assert not DirectoryUser.objects.filter(organization=cast.organization).exists()
    event = AuditEvent.objects.get(action=Action.ORGANIZATION_OFFBOARDED)
    assert (event.actor_email, event.organization, event.details["reason"]) == (
        "operator@casportal.test",
        cast.organization,
        REASON,
    )


def test_read_only_support_cannot_offboard(synchronized):
    cast = synchronized
    reader = mfa_client(staff_user("reader@casportal.test", group=READ_ONLY_GROUP))
    run_offboard_action(reader, cast.organization, reason=REASON)
    assert DirectoryUser.objects.filter(organization=cast.organization).exists()
    assert not AuditEvent.objects.filter(action=Action.ORGANIZATION_OFFBOARDED).exists()
