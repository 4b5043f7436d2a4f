import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import Action, AuditEvent
from directory.models import DirectoryDomain, DirectoryGroup, DirectoryUser
from organizations.models import Membership
from tests.admin.forms import posted_back

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:tenants_organization_changelist")


def test_organizations_are_found_by_name_slug_microsoft_tenant_id_or_verified_domain(cast, reader_staff_client):
    organization_id = uuid.uuid4()
    cast.organization.microsoft_tenant_id = organization_id
    cast.organization.save()
    DirectoryDomain.objects.create(organization=cast.organization, name="contoso-mail.example")
    for term in ("Contos", "contoso", str(organization_id), "contoso-mail.example"):
        body = reader_staff_client.get(CHANGELIST, {"q": term}).content.decode()
        assert "1 organization" in body, term
    assert "0 organizations" in reader_staff_client.get(CHANGELIST, {"q": "fabrikam.example"}).content.decode()


def test_an_organization_shows_its_members_services_sync_settings_and_directory_counts(cast, reader_staff_client):
    now = timezone.now()
    DirectoryUser.objects.create(
        organization=cast.organization, microsoft_id=uuid.uuid4(), user_principal_name="a@c.test", synced_at=now
    )
    DirectoryGroup.objects.create(
        organization=cast.organization,
        microsoft_id=uuid.uuid4(),
        display_name="G",
        group_type="security",
        synced_at=now,
    )
    body = reader_staff_client.get(
        reverse("admin:tenants_organization_change", args=[cast.organization.pk])
    ).content.decode()
    assert "owner@contoso.test" in body
    assert "Exchange Online" in body
    assert "Synchronized users" in body
    assert "Synchronized groups" in body


def test_admin_changes_are_audited_with_before_and_after(cast, superuser_client):
    url = reverse("admin:tenants_organization_change", args=[cast.organization.pk])
    data = posted_back(superuser_client.get(url)) | {"name": "Contoso Ltd"}
    response = superuser_client.post(url, data)
    assert response.status_code == 302
    event = AuditEvent.objects.get(action=Action.ADMIN_CHANGED)
    assert event.actor_email == "root@casportal.test"
    assert event.organization == cast.organization
    assert event.details["changes"] == {"name": ["Contoso", "Contoso Ltd"]}
    assert event.details["model"] == "tenants.Organization"


def test_admin_additions_deletions_and_inline_rows_are_audited(cast, superuser_client):
    add = superuser_client.post(
        reverse("admin:accounts_user_add"),
        {"email": "new@contoso.test", "password1": "a long password 123", "password2": "a long password 123"},
    )
    assert add.status_code == 302
    added = AuditEvent.objects.get(action=Action.ADMIN_ADDED)
    assert added.target == "new@contoso.test"
    assert "a long password 123" not in str(added.details)

    membership = Membership.objects.get(pk=cast.reader.pk)
    delete = superuser_client.post(reverse("admin:tenants_membership_delete", args=[membership.pk]), {"post": "yes"})
    assert delete.status_code == 302
    deleted = AuditEvent.objects.get(action=Action.MEMBER_REMOVED)
    assert (deleted.organization, deleted.target) == (cast.organization, "reader@contoso.test")


def test_a_change_that_fails_records_nothing(cast, superuser_client):
    url = reverse("admin:tenants_organization_change", args=[cast.organization.pk])
    response = superuser_client.post(url, {"name": "", "slug": cast.organization.slug, "region": "us"})
    assert response.status_code == 200
    assert not AuditEvent.objects.filter(action__startswith="admin.").exists()
