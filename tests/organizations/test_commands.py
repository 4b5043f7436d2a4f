from urllib.parse import urlsplit

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from accounts.models import User
from audit.models import Action, AuditEvent
from organizations.models import Membership, Organization, Policy, ProtectedService, Role

pytestmark = pytest.mark.django_db


def snapshot() -> tuple:
    return (
        list(User.objects.order_by("pk").values_list("email", "password", "is_staff", "is_superuser")),
        list(Organization.objects.values_list("slug", "name")),
        list(Membership.objects.values_list("organization__slug", "user__email", "role")),
        ProtectedService.objects.count(),
        Policy.objects.count(),
        EmailAddress.objects.filter(verified=True).count(),
        # Each run issues the demo support account a fresh enrolment link (it replaces the last one).
        AuditEvent.objects.exclude(action=Action.STAFF_MFA_ENROLMENT_ISSUED).count(),
    )


def test_seed_demo_is_idempotent_and_the_demo_admin_can_log_in():
    call_command("seed_demo")
    first = snapshot()
    call_command("seed_demo")
    assert snapshot() == first
    assert Membership.objects.get(user__email="admin@contoso.test").role == Role.ADMIN
    assert User.objects.get(email="support@casportal.test").is_superuser
    client = Client()
    response = client.post("/accounts/login/", {"login": "admin@contoso.test", "password": "casportal-demo"})
    assert response.status_code == 302
    assert client.get("/", follow=True).request["PATH_INFO"] == "/o/contoso/"


def test_create_organization_makes_the_organization_and_a_verified_admin_with_a_set_password_link(capsys):
    call_command("create_organization", "Fabrikam Inc", "--admin", "Boss@Fabrikam.test")
    organization = Organization.objects.get(slug="fabrikam-inc")
    membership = Membership.objects.get(organization=organization)
    assert membership.user.email == "boss@fabrikam.test"
    assert membership.role == Role.ADMIN
    assert not membership.user.has_usable_password()
    assert EmailAddress.objects.get(user=membership.user).verified
    assert ProtectedService.objects.filter(organization=organization).count() == 4
    link = capsys.readouterr().out.split("Set-password link (also emailed): ")[1].strip()
    assert link in mail.outbox[0].body
    client = Client()
    path = link.split("http://127.0.0.1:8000", 1)[1]
    form_page = client.get(path, follow=True)
    assert form_page.status_code == 200
    response = client.post(
        form_page.request["PATH_INFO"], {"password1": "a long new password", "password2": "a long new password"}
    )
    assert response.status_code == 302
    membership.user.refresh_from_db()
    assert membership.user.check_password("a long new password")


def test_create_organization_refuses_a_bad_email_and_a_taken_slug():
    with pytest.raises(CommandError, match="not an email"):
        call_command("create_organization", "Fabrikam", "--admin", "nobody")
    call_command("create_organization", "Fabrikam", "--admin", "a@fabrikam.test")
    with pytest.raises(CommandError, match="already taken"):
        call_command("create_organization", "Other", "--admin", "b@fabrikam.test", "--slug", "fabrikam")
    assert not User.objects.filter(email="b@fabrikam.test").exists()


def test_seed_demo_prints_an_enrolment_link_with_which_the_support_account_sets_up_totp(capsys):
    call_command("seed_demo")
    link = capsys.readouterr().out.split("set up two-factor authentication at: ")[1].strip()
    support = User.objects.get(email="support@casportal.test")
    client = Client()
    client.force_login(support)

    redeemed = client.post(urlsplit(link).path)

    assert redeemed.status_code == 302
    assert redeemed["Location"] == reverse("mfa_activate_totp")
