import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from audit.models import Action, AuditEvent
from organizations.models import Invitation, Membership, Role
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def invite(owner_client, cast, capture, email="new.admin@contoso.test", role=Role.ADMIN) -> str:
    with capture(execute=True):
        response = owner_client.post(
            reverse("member_invite", args=[cast.organization.slug]), {"email": email, "role": role}
        )
    assert response.status_code == 302
    link = re.search(r"http://\S+/invitations/\S+/", str(mail.outbox[-1].body))
    assert link, mail.outbox[-1].body
    return link.group(0).split("http://127.0.0.1:8000", 1)[1]


@pytest.fixture
def invitation_path(cast, owner_client, django_capture_on_commit_callbacks) -> str:
    return invite(owner_client, cast, django_capture_on_commit_callbacks)


def sign_up(client: Client, email: str):
    return client.post(reverse("account_signup"), {"email": email, "password1": PASSWORD, "password2": PASSWORD})


def test_invitation_is_emailed_and_audited(cast, invitation_path):
    assert mail.outbox[-1].to == ["new.admin@contoso.test"]
    invitation = Invitation.objects.get(email="new.admin@contoso.test")
    assert invitation.token_hash not in invitation_path  # only the hash is stored
    assert AuditEvent.objects.filter(action=Action.MEMBER_INVITED, organization=cast.organization).exists()


def test_new_user_signs_up_through_the_invitation_and_joins(cast, invitation_path, django_capture_on_commit_callbacks):
    client = Client()
    page = client.get(invitation_path)
    assert page.status_code == 200
    assert "Create account" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = sign_up(client, "new.admin@contoso.test")
    assert response.status_code == 302
    user = User.objects.get(email="new.admin@contoso.test")
    # allauth ships no type information, so django-stubs cannot see the reverse accessor EmailAddress adds to User.
    assert user.emailaddress_set.get().verified  # type: ignore[attr-defined]
    membership = Membership.objects.get(organization=cast.organization, user=user)
    assert membership.role == Role.ADMIN
    assert Invitation.objects.get(email=user.email).accepted_at is not None
    assert AuditEvent.objects.filter(action=Action.MEMBER_JOINED, actor=user, organization=cast.organization).exists()
    assert client.get(reverse("dashboard", args=[cast.organization.slug])).status_code == 200


@pytest.mark.usefixtures("cast")
def test_invitation_cannot_be_used_twice(invitation_path):
    client = Client()
    client.get(invitation_path)
    sign_up(client, "new.admin@contoso.test")
    second = Client()
    assert second.get(invitation_path).status_code == 404
    assert "cannot be used" in second.get(invitation_path).content.decode()


@pytest.mark.usefixtures("cast")
def test_expired_invitation_is_refused(invitation_path):
    Invitation.objects.filter(email="new.admin@contoso.test").update(expires_at=timezone.now() - timedelta(seconds=1))
    client = Client()
    assert client.get(invitation_path).status_code == 404
    response = sign_up(client, "new.admin@contoso.test")
    assert "Sign Up Closed" in response.content.decode()
    assert not User.objects.filter(email="new.admin@contoso.test").exists()


@pytest.mark.usefixtures("db")
def test_sign_up_without_invitation_is_refused():
    client = Client()
    response = client.get(reverse("account_signup"))
    assert "Sign Up Closed" in response.content.decode()
    sign_up(client, "stranger@example.test")
    assert not User.objects.filter(email="stranger@example.test").exists()


@pytest.mark.usefixtures("cast")
def test_sign_up_with_another_address_than_invited_is_refused(invitation_path):
    client = Client()
    client.get(invitation_path)
    response = sign_up(client, "someone.else@example.test")
    assert response.status_code == 200
    assert "This invitation is for new.admin@contoso.test" in response.content.decode()
    assert not User.objects.filter(email="someone.else@example.test").exists()


def test_existing_user_accepts_after_logging_in(cast, owner_client, django_capture_on_commit_callbacks):
    existing = UserFactory.create(email="existing@fabrikam.test")
    path = invite(owner_client, cast, django_capture_on_commit_callbacks, email=existing.email, role=Role.READ_ONLY)
    anonymous = Client()
    assert "log in" in anonymous.get(path).content.decode().lower()
    client = Client()
    client.force_login(existing)
    assert client.post(path).status_code == 302
    assert Membership.objects.get(organization=cast.organization, user=existing).role == Role.READ_ONLY


def test_invitation_for_someone_else_is_not_accepted_by_the_signed_in_user(cast, invitation_path):
    intruder = UserFactory.create(email="intruder@example.test")
    client = Client()
    client.force_login(intruder)
    client.post(invitation_path)
    assert not Membership.objects.filter(organization=cast.organization, user=intruder).exists()
    assert Invitation.objects.get(email="new.admin@contoso.test").accepted_at is None


def test_inviting_an_existing_member_is_refused(cast, owner_client):
    response = owner_client.post(
        reverse("member_invite", args=[cast.organization.slug]), {"email": cast.reader.user.email, "role": Role.ADMIN}
    )
    assert response.status_code == 400
    assert "already a member" in response.content.decode()
    assert not Invitation.objects.exists()


def test_invalid_email_is_refused_with_a_message(cast, owner_client):
    response = owner_client.post(
        reverse("member_invite", args=[cast.organization.slug]), {"email": "not-an-email", "role": Role.ADMIN}
    )
    assert response.status_code == 400
    assert "Enter a valid email address" in response.content.decode()
    assert not Invitation.objects.exists()


def test_withdrawn_invitation_no_longer_works(cast, owner_client, invitation_path):
    invitation = Invitation.objects.get()
    response = owner_client.post(reverse("invitation_revoke", args=[cast.organization.slug, invitation.public_id]))
    assert response.status_code == 302
    assert Client().get(invitation_path).status_code == 404
    assert AuditEvent.objects.filter(action=Action.INVITATION_REVOKED).exists()
