"""Django admin goes through the services: the portal's rules hold there, and are audited in the same words."""

import uuid

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.urls import reverse

from audit.models import Action, AuditEvent
from organizations.models import Membership, Organization, Policy, ProtectedService, Role, ServiceStatus
from tests.admin.forms import inline_prefix, posted_back
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LAST_ADMIN = "An organization needs at least one administrator"


def admins(organization: Organization) -> int:
    return Membership.objects.filter(organization=organization, role=Role.ADMIN).count()


def shown(response) -> str:
    return " ".join(str(message) for message in get_messages(response.wsgi_request))


def assert_refused(response, cast) -> None:
    assert response.status_code == 302
    assert LAST_ADMIN in shown(response)
    assert admins(cast.organization) == 1
    assert not AuditEvent.objects.filter(action__in=[Action.MEMBER_REMOVED, Action.MEMBER_ROLE_CHANGED]).exists()
    assert not AuditEvent.objects.filter(action__startswith="admin.").exists()


def membership_form(membership: Membership, role: str) -> tuple[str, dict]:
    return reverse("admin:tenants_membership_change", args=[membership.pk]), {"role": role}


def organization_form(client, cast) -> tuple[str, dict, str]:
    url = reverse("admin:tenants_organization_change", args=[cast.organization.pk])
    page = client.get(url)
    return url, posted_back(page), inline_prefix(page, Membership)


def row_of(data: dict, prefix: str, membership: Membership) -> str:
    return next(
        key.removesuffix("-id")
        for key, value in data.items()
        if key.startswith(prefix) and key.endswith("-id") and value == membership.pk
    )


def test_the_last_admin_cannot_be_demoted_in_the_membership_admin(cast, superuser_client):
    url, data = membership_form(cast.owner, Role.READ_ONLY)
    assert_refused(superuser_client.post(url, data), cast)


def test_the_last_admin_cannot_be_deleted_in_the_membership_admin(cast, superuser_client):
    url = reverse("admin:tenants_membership_delete", args=[cast.owner.pk])
    assert_refused(superuser_client.post(url, {"post": "yes"}), cast)


def test_the_last_admin_cannot_be_removed_by_the_delete_selected_action(cast, superuser_client):
    response = superuser_client.post(
        reverse("admin:tenants_membership_changelist"),
        {"action": "delete_selected", "post": "yes", ACTION_CHECKBOX_NAME: [cast.reader.pk, cast.owner.pk]},
    )
    assert_refused(response, cast)
    assert Membership.objects.filter(pk=cast.reader.pk).exists(), "one refusal undoes the whole action"


def test_the_last_admin_cannot_be_demoted_in_the_organizations_inline(cast, superuser_client):
    url, data, prefix = organization_form(superuser_client, cast)
    data[f"{row_of(data, prefix, cast.owner)}-role"] = Role.READ_ONLY
    data["name"] = "Contoso Renamed"
    assert_refused(superuser_client.post(url, data), cast)
    cast.organization.refresh_from_db()
    assert cast.organization.name == "Contoso", "the whole submission is undone"


def test_the_last_admin_cannot_be_deleted_in_the_organizations_inline(cast, superuser_client):
    url, data, prefix = organization_form(superuser_client, cast)
    data[f"{row_of(data, prefix, cast.owner)}-DELETE"] = "on"
    assert_refused(superuser_client.post(url, data), cast)


def test_removing_another_member_is_audited_as_in_the_portal(cast, superuser_client):
    url = reverse("admin:tenants_membership_delete", args=[cast.reader.pk])
    assert superuser_client.post(url, {"post": "yes"}).status_code == 302
    assert not Membership.objects.filter(pk=cast.reader.pk).exists()
    event = AuditEvent.objects.get(action=Action.MEMBER_REMOVED)
    assert (event.actor_email, event.organization, event.target) == (
        "root@casportal.test",
        cast.organization,
        "reader@contoso.test",
    )
    assert not AuditEvent.objects.filter(action=Action.ADMIN_DELETED).exists()


def test_an_inline_row_is_removed_and_a_role_changed_through_the_services(cast, superuser_client):
    second = Membership.objects.create(organization=cast.organization, user=UserFactory.create(), role=Role.READ_ONLY)
    url, data, prefix = organization_form(superuser_client, cast)
    data[f"{row_of(data, prefix, cast.reader)}-DELETE"] = "on"
    data[f"{row_of(data, prefix, second)}-role"] = Role.ADMIN
    assert superuser_client.post(url, data).status_code == 302
    assert not Membership.objects.filter(pk=cast.reader.pk).exists()
    assert AuditEvent.objects.get(action=Action.MEMBER_REMOVED).actor_email == "root@casportal.test"
    changed = AuditEvent.objects.get(action=Action.MEMBER_ROLE_CHANGED)
    assert changed.details == {"from": Role.READ_ONLY, "to": Role.ADMIN}
    assert not AuditEvent.objects.filter(action__startswith="admin.").exists()


def test_one_inline_submission_may_hand_the_administration_over(cast, superuser_client):
    url, data, prefix = organization_form(superuser_client, cast)
    data[f"{row_of(data, prefix, cast.owner)}-role"] = Role.READ_ONLY
    data[f"{row_of(data, prefix, cast.reader)}-role"] = Role.ADMIN
    assert superuser_client.post(url, data).status_code == 302
    assert Membership.objects.get(pk=cast.reader.pk).role == Role.ADMIN
    assert Membership.objects.get(pk=cast.owner.pk).role == Role.READ_ONLY
    assert AuditEvent.objects.filter(action=Action.MEMBER_ROLE_CHANGED).count() == 2


def test_an_inline_row_keeps_its_user(cast, superuser_client):
    url, data, prefix = organization_form(superuser_client, cast)
    data[f"{row_of(data, prefix, cast.reader)}-user"] = UserFactory.create().pk
    assert superuser_client.post(url, data).status_code == 302
    assert Membership.objects.get(pk=cast.reader.pk).user == cast.reader.user


def test_a_role_change_in_the_membership_admin_is_audited_as_in_the_portal(cast, superuser_client):
    url, data = membership_form(cast.reader, Role.ADMIN)
    assert superuser_client.post(url, data).status_code == 302
    event = AuditEvent.objects.get(action=Action.MEMBER_ROLE_CHANGED)
    assert (event.actor_email, event.details) == ("root@casportal.test", {"from": Role.READ_ONLY, "to": Role.ADMIN})


def test_a_membership_keeps_its_user_and_organization(cast, superuser_client):
    url = reverse("admin:tenants_membership_change", args=[cast.reader.pk])
    data = {"role": Role.READ_ONLY, "user": UserFactory.create().pk, "organization": cast.outsider.organization.pk}
    assert superuser_client.post(url, data).status_code == 302
    membership = Membership.objects.get(pk=cast.reader.pk)
    assert (membership.user, membership.organization) == (cast.reader.user, cast.organization)


def test_adding_a_membership_goes_through_add_member(cast, superuser_client):
    user = UserFactory.create(email="new@contoso.test")
    response = superuser_client.post(
        reverse("admin:tenants_membership_add"),
        {"user": user.pk, "organization": cast.organization.pk, "role": Role.ADMIN},
    )
    assert response.status_code == 302
    membership = Membership.objects.get(organization=cast.organization, user=user)
    assert membership.role == Role.ADMIN
    event = AuditEvent.objects.get(action=Action.MEMBER_JOINED, target="new@contoso.test")
    assert (event.actor_email, event.details) == ("root@casportal.test", {"role": Role.ADMIN})


def test_adding_an_inline_row_goes_through_add_member(cast, superuser_client):
    user = UserFactory.create(email="new@contoso.test")
    url, data, prefix = organization_form(superuser_client, cast)
    row = f"{prefix}-{data[f'{prefix}-TOTAL_FORMS']}"
    data |= {f"{prefix}-TOTAL_FORMS": data[f"{prefix}-TOTAL_FORMS"] + 1, f"{row}-user": user.pk, f"{row}-role": "admin"}
    assert superuser_client.post(url, data).status_code == 302
    assert Membership.objects.get(organization=cast.organization, user=user).role == Role.ADMIN
    assert AuditEvent.objects.get(action=Action.MEMBER_JOINED).actor_email == "root@casportal.test"


def test_enabling_a_policy_in_admin_is_audited_as_in_the_portal(cast, superuser_client):
    policy = Policy.objects.filter(organization=cast.organization, name="Default DLP policy").first()
    assert policy is not None
    ProtectedService.objects.filter(pk=policy.service_id).update(status=ServiceStatus.PROTECTED)
    url = reverse("admin:tenants_policy_change", args=[policy.pk])
    response = superuser_client.post(url, {"enabled": "on", "name": "Renamed", "priority": 1})
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.enabled
    assert (policy.name, policy.priority) == ("Default DLP policy", 99999), "read-only in admin"
    event = AuditEvent.objects.get(action=Action.POLICY_ENABLED)
    assert (event.actor_email, event.organization, event.details["policy"]) == (
        "root@casportal.test",
        cast.organization,
        str(policy.public_id),
    )
    assert not AuditEvent.objects.filter(action__startswith="admin.").exists()

    superuser_client.post(url, {})
    policy.refresh_from_db()
    assert not policy.enabled
    assert AuditEvent.objects.filter(action=Action.POLICY_DISABLED).count() == 1


def test_the_microsoft_tenant_cannot_be_rebound_by_the_change_form(cast, superuser_client):
    bound = uuid.uuid4()
    Organization.objects.filter(pk=cast.organization.pk).update(microsoft_tenant_id=bound)
    url, data, _prefix = organization_form(superuser_client, cast)
    assert "microsoft_tenant_id" not in data
    data |= {"microsoft_tenant_id": str(uuid.uuid4()), "name": "Contoso Ltd"}
    assert superuser_client.post(url, data).status_code == 302
    cast.organization.refresh_from_db()
    assert (cast.organization.name, cast.organization.microsoft_tenant_id) == ("Contoso Ltd", bound)


@pytest.mark.usefixtures("db")
def test_a_new_organization_is_not_bound_by_the_add_form(superuser_client):
    add = reverse("admin:tenants_organization_add")
    data = posted_back(superuser_client.get(add))
    data |= {"name": "Northwind", "slug": "northwind", "region": "us", "microsoft_tenant_id": str(uuid.uuid4())}
    assert superuser_client.post(add, data).status_code == 302
    assert Organization.objects.get(slug="northwind").microsoft_tenant_id is None


def test_the_last_admin_cannot_be_deleted_with_their_user_account(cast, superuser_client):
    url = reverse("admin:accounts_user_delete", args=[cast.owner.user.pk])
    response = superuser_client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert LAST_ADMIN in shown(response)
    assert Membership.objects.filter(pk=cast.owner.pk).exists()
    assert admins(cast.organization) == 1


def test_deleting_a_member_s_user_account_removes_the_membership_as_the_portal_does(cast, superuser_client):
    url = reverse("admin:accounts_user_changelist")
    data = {"action": "delete_selected", ACTION_CHECKBOX_NAME: [cast.reader.user.pk], "post": "yes"}
    response = superuser_client.post(url, data)
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=cast.reader.pk).exists()
    removed = AuditEvent.objects.get(action=Action.MEMBER_REMOVED)
    assert removed.organization == cast.organization
    assert removed.target == "reader@contoso.test"


def test_organizations_and_policies_are_not_deleted_in_admin(cast, superuser_client):
    policy = Policy.objects.filter(organization=cast.organization).first()
    assert policy is not None
    for url in (
        reverse("admin:tenants_organization_delete", args=[cast.organization.pk]),
        reverse("admin:tenants_policy_delete", args=[policy.pk]),
    ):
        assert superuser_client.post(url, {"post": "yes"}).status_code == 403
    assert Organization.objects.filter(pk=cast.organization.pk).exists()
    assert Policy.objects.filter(pk=policy.pk).exists()


def test_a_policy_of_a_service_without_a_grant_is_refused_in_admin_with_the_reason(cast, superuser_client):
    policy = Policy.objects.filter(organization=cast.organization, name="Default DLP policy").first()
    assert policy is not None
    url = reverse("admin:tenants_policy_change", args=[policy.pk])

    response = superuser_client.post(url, {"enabled": "on"}, follow=True)

    assert response.status_code == 200
    assert "has no access grant" in response.content.decode()
    policy.refresh_from_db()
    assert not policy.enabled
    assert not AuditEvent.objects.filter(action=Action.POLICY_ENABLED).exists()
