import pytest
from django.db import IntegrityError
from django.urls import reverse

from audit.models import Action, AuditEvent
from organizations.models import Policy, PolicyType, ProtectedService, ServiceKind, ServiceStatus
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.mark.usefixtures("db")
def test_a_new_organization_has_every_service_and_the_default_policies():
    organization = OrganizationFactory.create()
    services = ProtectedService.objects.filter(organization=organization)
    assert sorted(services.values_list("kind", flat=True)) == sorted(ServiceKind.values)
    assert all(service.status == ServiceStatus.NOT_GRANTED for service in services)
    for service in services:
        policies = set(Policy.objects.filter(service=service).values_list("name", "policy_type", "priority", "enabled"))
        assert policies == {
            ("Default ATP policy", PolicyType.ATP, 99999, False),
            ("Default ATP policy (monitor only)", PolicyType.ATP, 99998, False),
            ("Default DLP policy", PolicyType.DLP, 99999, False),
        }
    assert AuditEvent.objects.filter(action=Action.ORGANIZATION_CREATED, organization=organization).exists()


def test_enabling_a_policy_is_applied_and_audited(cast, owner_client):
    policy = Policy.objects.filter(organization=cast.organization, name="Default DLP policy").first()
    assert policy is not None
    ProtectedService.objects.filter(pk=policy.service_id).update(status=ServiceStatus.PROTECTED)  # granted
    response = owner_client.post(
        reverse("policy_toggle", args=[cast.organization.slug, policy.public_id]), {"enabled": "1"}
    )
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.enabled
    event = AuditEvent.objects.get(action=Action.POLICY_ENABLED)
    assert event.organization == cast.organization
    assert event.actor == cast.owner.user
    assert event.details["policy"] == str(policy.public_id)

    owner_client.post(reverse("policy_toggle", args=[cast.organization.slug, policy.public_id]), {"enabled": "0"})
    policy.refresh_from_db()
    assert not policy.enabled
    assert AuditEvent.objects.filter(action=Action.POLICY_DISABLED).count() == 1


def test_a_malformed_toggle_changes_nothing(cast, owner_client):
    policy = Policy.objects.filter(organization=cast.organization).first()
    assert policy is not None
    owner_client.post(reverse("policy_toggle", args=[cast.organization.slug, policy.public_id]), {"enabled": "maybe"})
    policy.refresh_from_db()
    assert not policy.enabled
    assert not AuditEvent.objects.filter(action__startswith="policy.").exists()


def test_another_organizations_policy_is_404(cast, owner_client):
    foreign = Policy.objects.filter(organization=cast.outsider.organization).first()
    assert foreign is not None
    url = reverse("policy_toggle", args=[cast.organization.slug, foreign.public_id])
    assert owner_client.post(url, {"enabled": "1"}).status_code == 404
    foreign.refresh_from_db()
    assert not foreign.enabled


def test_read_only_member_sees_policies_without_actions(cast, reader_client):
    body = reader_client.get(reverse("policies", args=[cast.organization.slug])).content.decode()
    assert body.count("Default ATP policy (monitor only)") == 4
    assert "Enable" not in body


def test_priorities_are_unique_per_service_and_type_and_defaults_stay_lowest(cast):
    service = ProtectedService.objects.get(organization=cast.organization, kind=ServiceKind.EXCHANGE_ONLINE)
    with pytest.raises(IntegrityError):
        Policy.objects.create(
            organization=cast.organization, service=service, name="Custom", policy_type=PolicyType.ATP, priority=99998
        )


def test_priority_is_within_range(cast):
    service = ProtectedService.objects.get(organization=cast.organization, kind=ServiceKind.EXCHANGE_ONLINE)
    with pytest.raises(IntegrityError):
        Policy.objects.create(
            organization=cast.organization, service=service, name="Custom", policy_type=PolicyType.ATP, priority=0
        )
