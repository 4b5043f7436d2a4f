"""Invitations cannot be blocked: an address someone added to their own account without verifying it claims
nothing. The invitee, who holds the emailed link, signs up and joins; the unverified duplicate is removed from the
other account (audited), whose owner keeps their account and gains nothing."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import User
from audit.models import Action, AuditEvent
from organizations.models import Membership, Role
from tests.cast import client_for
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

VICTIM = "victim@contoso.test"


def add_address(client: Client, email: str):
    """As on allauth's Email page: the address is added unverified and a verification email sent."""
    response = client.post(reverse("account_email"), {"email": email, "action_add": ""})
    assert response.status_code == 302
    return EmailAddress.objects.get(email=email)


def invitation_link(owner_client, cast, capture, email: str = VICTIM) -> str:
    with capture(execute=True):
        response = owner_client.post(
            reverse("member_invite", args=[cast.organization.slug]), {"email": email, "role": Role.ADMIN}
        )
    assert response.status_code == 302
    link = re.search(r"http://\S+/invitations/\S+/", str(mail.outbox[-1].body))
    assert link
    return link.group(0).split("http://127.0.0.1:8000", 1)[1]


def sign_up(client: Client, email: str):
    return client.post(reverse("account_signup"), {"email": email, "password1": PASSWORD, "password2": PASSWORD})


@pytest.fixture
def claimed(cast) -> EmailAddress:
    """The outsider added the victim's address to their own account, unverified."""
    address = add_address(client_for(cast.outsider), VICTIM)
    assert (address.user, address.verified, address.primary) == (cast.outsider.user, False, False)
    return address


@pytest.mark.usefixtures("claimed")
def test_an_unverified_address_on_another_account_does_not_block_the_invitee(cast, django_capture_on_commit_callbacks):
    link = invitation_link(client_for(cast.owner), cast, django_capture_on_commit_callbacks)
    invitee = Client()
    page = invitee.get(link)
    assert "Create account" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = sign_up(invitee, VICTIM)
    assert response.status_code == 302
    user = User.objects.get(email=VICTIM)
    assert user != cast.outsider.user
    assert Membership.objects.get(organization=cast.organization, user=user).role == Role.ADMIN
    assert list(EmailAddress.objects.filter(email=VICTIM).values_list("user", "verified", "primary")) == [
        (user.pk, True, True)
    ]
    assert invitee.get(reverse("dashboard", args=[cast.organization.slug])).status_code == 200

    released = AuditEvent.objects.get(action=Action.UNVERIFIED_EMAIL_RELEASED)
    assert released.target == cast.outsider.user.email
    assert released.details["address"] == VICTIM
    # The other account keeps its own address and gains nothing.
    outsider = User.objects.get(pk=cast.outsider.user.pk)
    assert list(EmailAddress.objects.filter(user=outsider).values_list("email", "verified")) == [(outsider.email, True)]
    assert not Membership.objects.filter(organization=cast.organization, user=outsider).exists()


def test_the_other_accounts_verification_link_is_dead_once_released(cast, django_capture_on_commit_callbacks):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        add_address(client_for(cast.outsider), VICTIM)
    confirm = re.search(r"http://\S+(/accounts/confirm-email/\S+/)", str(mail.outbox[-1].body))
    assert confirm
    link = invitation_link(client_for(cast.owner), cast, django_capture_on_commit_callbacks)
    invitee = Client()
    invitee.get(link)
    with django_capture_on_commit_callbacks(execute=True):
        sign_up(invitee, VICTIM)
    # Were the victim to click the link the other account had sent them, it no longer verifies anything.
    client_for(cast.outsider).post(confirm.group(1))
    assert list(EmailAddress.objects.filter(email=VICTIM).values_list("user", flat=True)) == [
        User.objects.get(email=VICTIM).pk
    ]


def test_a_verified_address_on_another_account_is_not_taken_from_it(cast, django_capture_on_commit_callbacks):
    owner_of_address = UserFactory.create(email="someone@fabrikam.test")
    EmailAddress.objects.create(user=owner_of_address, email=VICTIM, verified=True, primary=False)
    link = invitation_link(client_for(cast.owner), cast, django_capture_on_commit_callbacks)
    invitee = Client()
    invitee.get(link)
    with django_capture_on_commit_callbacks(execute=True):
        sign_up(invitee, VICTIM)
    assert not User.objects.filter(email=VICTIM).exists()
    assert EmailAddress.objects.get(email=VICTIM).user == owner_of_address
    assert not AuditEvent.objects.filter(action=Action.UNVERIFIED_EMAIL_RELEASED).exists()


def test_an_address_nobody_was_invited_with_is_left_alone(cast, claimed, django_capture_on_commit_callbacks):
    link = invitation_link(client_for(cast.owner), cast, django_capture_on_commit_callbacks, email="other@contoso.test")
    invitee = Client()
    invitee.get(link)
    response = sign_up(invitee, VICTIM)  # not the invited address: refused by the adapter
    assert "This invitation is for other@contoso.test" in response.content.decode()
    assert EmailAddress.objects.filter(pk=claimed.pk).exists()


def test_the_unverified_address_cannot_become_the_other_accounts_primary(cast, claimed):
    response = client_for(cast.outsider).post(reverse("account_email"), {"email": VICTIM, "action_primary": ""})
    assert response.status_code in (200, 302)
    assert User.objects.get(pk=cast.outsider.user.pk).email == cast.outsider.user.email
    assert EmailAddress.objects.get(pk=claimed.pk).primary is False
