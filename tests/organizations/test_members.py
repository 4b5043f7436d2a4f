import pytest
from django.urls import reverse

from audit.models import Action, AuditEvent
from organizations.models import Membership, Role

pytestmark = pytest.mark.django_db


def test_members_page_lists_members_and_pending_invitations(cast, reader_client):
    body = reader_client.get(reverse("members", args=[cast.organization.slug])).content.decode()
    assert cast.owner.user.email in body
    assert cast.reader.user.email in body
    assert cast.outsider.user.email not in body
    assert "Invite a member" not in body


def test_the_last_admin_cannot_be_demoted(cast, owner_client):
    response = owner_client.post(
        reverse("member_role", args=[cast.organization.slug, cast.owner.public_id]), {"role": Role.READ_ONLY}
    )
    assert response.status_code == 302
    cast.owner.refresh_from_db()
    assert cast.owner.role == Role.ADMIN
    page = owner_client.get(response["Location"]).content.decode()
    assert "at least one administrator" in page
    assert not AuditEvent.objects.filter(action=Action.MEMBER_ROLE_CHANGED).exists()


def test_the_last_admin_cannot_be_removed(cast, owner_client):
    response = owner_client.post(reverse("member_remove", args=[cast.organization.slug, cast.owner.public_id]))
    assert response.status_code == 302
    assert Membership.objects.filter(pk=cast.owner.pk).exists()
    assert not AuditEvent.objects.filter(action=Action.MEMBER_REMOVED).exists()


def test_role_change_is_applied_and_audited(cast, owner_client):
    owner_client.post(
        reverse("member_role", args=[cast.organization.slug, cast.reader.public_id]), {"role": Role.ADMIN}
    )
    cast.reader.refresh_from_db()
    assert cast.reader.role == Role.ADMIN
    event = AuditEvent.objects.get(action=Action.MEMBER_ROLE_CHANGED)
    assert event.details == {"from": Role.READ_ONLY, "to": Role.ADMIN}
    assert event.actor == cast.owner.user
    assert event.ip_address == "127.0.0.1"


def test_an_admin_may_step_down_once_another_admin_exists(cast, owner_client):
    owner_client.post(
        reverse("member_role", args=[cast.organization.slug, cast.reader.public_id]), {"role": Role.ADMIN}
    )
    owner_client.post(
        reverse("member_role", args=[cast.organization.slug, cast.owner.public_id]), {"role": Role.READ_ONLY}
    )
    cast.owner.refresh_from_db()
    assert cast.owner.role == Role.READ_ONLY


def test_removal_asks_for_confirmation_then_removes(cast, owner_client):
    url = reverse("member_remove", args=[cast.organization.slug, cast.reader.public_id])
    confirm = owner_client.get(url)
    assert confirm.status_code == 200
    assert f"Remove {cast.reader.user.email}?" in confirm.content.decode()
    assert Membership.objects.filter(pk=cast.reader.pk).exists()
    owner_client.post(url)
    assert not Membership.objects.filter(pk=cast.reader.pk).exists()
    assert AuditEvent.objects.filter(action=Action.MEMBER_REMOVED, target=cast.reader.user.email).exists()


def test_an_unknown_role_is_refused(cast, owner_client):
    owner_client.post(reverse("member_role", args=[cast.organization.slug, cast.reader.public_id]), {"role": "root"})
    cast.reader.refresh_from_db()
    assert cast.reader.role == Role.READ_ONLY


def test_a_member_of_another_organization_cannot_be_reached(cast, owner_client):
    url = reverse("member_remove", args=[cast.organization.slug, cast.outsider.public_id])
    assert owner_client.post(url).status_code == 404
    assert Membership.objects.filter(pk=cast.outsider.pk).exists()
