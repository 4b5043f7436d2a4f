import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tests.admin.staff import mfa_client
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture
def superuser_client() -> Client:
    return mfa_client(UserFactory.create(email="root@casportal.test", is_staff=True, is_superuser=True))


def test_authenticator_admin_never_shows_the_totp_secret(superuser_client):
    user = UserFactory.create(email="mfa@contoso.test")
    authenticator = TOTP.activate(user, SECRET).instance
    stored = Authenticator.objects.get(pk=authenticator.pk).data["secret"]
    pages = [
        superuser_client.get(reverse("admin:mfa_authenticator_changelist")),
        superuser_client.get(reverse("admin:mfa_authenticator_change", args=[authenticator.pk])),
    ]
    for page in pages:
        assert page.status_code == 200
        body = page.content.decode()
        assert "mfa@contoso.test" in body
        assert SECRET not in body
        assert stored not in body


def test_a_user_added_in_admin_has_a_verified_address(superuser_client):
    response = superuser_client.post(
        reverse("admin:accounts_user_add"),
        {"email": "new.admin@fabrikam.test", "password1": "a long password 123", "password2": "a long password 123"},
    )
    assert response.status_code == 302
    user = User.objects.get(email="new.admin@fabrikam.test")
    assert EmailAddress.objects.get(user=user).verified
