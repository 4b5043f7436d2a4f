"""Nothing a staff member does to a customer's account goes unrecorded: every admin door to an account (the
password page, the change form, the bulk actions, the addresses and authenticators) writes an audit event in the
same transaction, naming the staff member, in each organization the customer belongs to, so each one's Activity
page shows it; and no event carries a password or its hash."""

import json

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group
from django.urls import reverse

from accounts.models import User
from audit.models import Action, AuditEvent
from organizations.models import Membership, Role
from support.staff import READ_ONLY_GROUP
from tests.admin.staff import TOTP_SECRET, mfa_client, staff_user
from tests.cast import client_for
from tests.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "correct horse battery staple 42"


@pytest.fixture
def root():
    return staff_user("root@casportal.test", superuser=True)


@pytest.fixture
def root_client(root):
    return mfa_client(root)


@pytest.fixture
def fabrikam_admin() -> Membership:
    return MembershipFactory.create(
        organization=OrganizationFactory.create(name="Fabrikam", slug="fabrikam"), role=Role.ADMIN
    )


@pytest.fixture
def customer(cast, fabrikam_admin) -> User:
    """The read-only member of Contoso, also one of Fabrikam."""
    user = cast.reader.user
    MembershipFactory.create(organization=fabrikam_admin.organization, user=user, role=Role.READ_ONLY)
    return user


def events(action: Action, root: User) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, actor=root).select_related("organization"))


def slugs(found: list[AuditEvent]) -> list[str]:
    return sorted(event.organization.slug if event.organization else "" for event in found)


def assert_in_each_organization(found: list[AuditEvent]) -> None:
    assert slugs(found) == ["contoso", "fabrikam"]
    for event in found:
        admin = Membership.objects.filter(organization=event.organization, role=Role.ADMIN).first()
        assert admin is not None
        activity = client_for(admin).get(reverse("activity", args=[slugs([event])[0]]))
        assert activity.status_code == 200
        body = activity.content.decode()
        assert event.get_action_display() in body
        assert "Support: root@casportal.test" in body


def assert_no_secret(found: list[AuditEvent], *secrets: str) -> None:
    for event in found:
        payload = json.dumps(event.details) + event.target
        for secret in secrets:
            assert secret not in payload


def test_setting_a_password_is_recorded_in_each_organization(root, root_client, customer):
    url = reverse("admin:auth_user_password_change", args=[customer.pk])
    response = root_client.post(
        url, {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "set-password": ""}
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.check_password(NEW_PASSWORD)
    found = events(Action.ADMIN_PASSWORD_SET, root)
    assert all(event.target == customer.email for event in found)
    assert_in_each_organization(found)
    assert_no_secret(found, NEW_PASSWORD, customer.password, customer.password.split("$")[-1])


def test_disabling_password_sign_in_is_recorded(root, root_client, customer):
    url = reverse("admin:auth_user_password_change", args=[customer.pk])
    response = root_client.post(url, {"usable_password": "false", "unset-password": ""})
    assert response.status_code == 302
    customer.refresh_from_db()
    assert not customer.has_usable_password()
    assert_in_each_organization(events(Action.ADMIN_PASSWORD_DISABLED, root))


def test_a_refused_password_changes_and_records_nothing(root, root_client, customer):
    before = customer.password
    url = reverse("admin:auth_user_password_change", args=[customer.pk])
    response = root_client.post(url, {"usable_password": "true", "password1": NEW_PASSWORD, "password2": "other"})
    assert response.status_code == 200
    customer.refresh_from_db()
    assert customer.password == before
    assert not AuditEvent.objects.filter(actor=root).exclude(action=Action.LOGIN).exists()


def test_changing_an_account_is_recorded_in_each_organization(root, root_client, customer):
    url = reverse("admin:accounts_user_change", args=[customer.pk])
    data = {
        "email": "renamed@contoso.test",
        "full_name": "Renamed Reader",
        "is_staff": "on",
        "groups": [str(Group.objects.get(name=READ_ONLY_GROUP).pk)],
    }  # is_active unticked
    assert root_client.post(url, data).status_code == 302
    found = events(Action.ADMIN_CHANGED, root)
    assert_in_each_organization(found)
    changes = found[0].details["changes"]
    assert changes["email"] == ["reader@contoso.test", "renamed@contoso.test"]
    assert changes["full_name"] == ["", "Renamed Reader"]
    assert changes["is_active"] == ["True", "False"]
    assert changes["is_staff"] == ["False", "True"]
    assert changes["groups"] == ["", READ_ONLY_GROUP]
    customer.refresh_from_db()
    assert_no_secret(found, customer.password)
    # The address entered is the primary one; the previous one stays, as a secondary address.
    assert set(EmailAddress.objects.filter(user=customer).values_list("email", "primary", "verified")) == {
        ("renamed@contoso.test", True, True),
        ("reader@contoso.test", False, True),
    }


def test_deleting_accounts_in_bulk_is_recorded_in_each_organization(root, root_client, cast, customer):
    response = root_client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "delete_selected", ACTION_CHECKBOX_NAME: [str(customer.pk)], "post": "yes"},
    )
    assert response.status_code == 302
    assert not User.objects.filter(pk=customer.pk).exists()
    found = events(Action.ADMIN_DELETED, root)
    assert slugs(found) == ["contoso", "fabrikam"]
    assert slugs(events(Action.MEMBER_REMOVED, root)) == ["contoso", "fabrikam"]
    activity = client_for(cast.owner).get(reverse("activity", args=["contoso"])).content.decode()
    assert "Deleted in Django admin" in activity


def test_an_address_added_and_verified_in_admin_is_recorded(root, root_client, customer):
    added = root_client.post(
        reverse("admin:account_emailaddress_add"),
        {"user": str(customer.pk), "email": "second@contoso.test"},
    )
    assert added.status_code == 302
    assert_in_each_organization(events(Action.ADMIN_ADDED, root))
    address = EmailAddress.objects.get(email="second@contoso.test")
    verified = root_client.post(
        reverse("admin:account_emailaddress_changelist"),
        {"action": "make_verified", ACTION_CHECKBOX_NAME: [str(address.pk)]},
    )
    assert verified.status_code == 302
    address.refresh_from_db()
    assert address.verified
    found = events(Action.ADMIN_CHANGED, root)
    assert_in_each_organization(found)
    assert found[0].details["changes"] == {"verified": ["False", "True"]}


def test_deleting_an_authenticator_is_recorded_in_each_organization(root, root_client, customer):
    authenticator = TOTP.activate(customer, TOTP_SECRET).instance
    response = root_client.post(
        reverse("admin:mfa_authenticator_delete", args=[authenticator.pk]),
        {"post": "yes"},
    )
    assert response.status_code == 302
    assert not Authenticator.objects.filter(pk=authenticator.pk).exists()
    found = events(Action.ADMIN_DELETED, root)
    assert_in_each_organization(found)
    assert_no_secret(found, TOTP_SECRET)


def test_a_change_to_someone_in_no_organization_is_still_recorded(root, root_client):
    loner = staff_user("loner@casportal.test")
    url = reverse("admin:auth_user_password_change", args=[loner.pk])
    root_client.post(url, {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    [event] = events(Action.ADMIN_PASSWORD_SET, root)
    assert event.organization is None
    assert event.target == "loner@casportal.test"
