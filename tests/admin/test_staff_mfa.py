import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.accounts.test_login_and_mfa import current_code, log_in
from tests.admin.staff import TOTP_SECRET, mfa_client, staff_user
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ADMIN_PAGES = ["/admin/", "/admin/tenants/organization/", "/admin/audit/auditevent/"]


def test_staff_without_totp_are_sent_to_the_enrolment_page_before_any_admin_page():
    client = Client()
    log_in(client, staff_user("new@casportal.test", superuser=True).email)
    for page in ADMIN_PAGES:
        response = client.get(page)
        assert response.status_code == 302
        assert response["Location"] == reverse("admin:accounts_user_mfa_enrolment")


def test_staff_whose_session_has_not_passed_mfa_are_asked_for_a_code_then_let_in():
    user = staff_user("totp@casportal.test", superuser=True)
    TOTP.activate(user, TOTP_SECRET)
    client = Client()
    client.force_login(user)  # a session without the second factor (e.g. TOTP set up after logging in)
    response = client.get("/admin/tenants/organization/?q=x")
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('mfa_reauthenticate')}?next=%2Fadmin%2Ftenants%2Forganization%2F%3Fq%3Dx"
    verified = client.post(response["Location"], {"code": current_code(TOTP_SECRET)})
    assert verified.status_code == 302
    assert verified["Location"] == "/admin/tenants/organization/?q=x"
    assert client.get("/admin/tenants/organization/?q=x").status_code == 200


def test_logging_in_with_password_and_code_opens_admin():
    user = staff_user("both@casportal.test", superuser=True)
    TOTP.activate(user, TOTP_SECRET)
    client = Client()
    assert log_in(client, user.email)["Location"] == reverse("mfa_authenticate")
    client.post(reverse("mfa_authenticate"), {"code": current_code(TOTP_SECRET)})
    assert client.get("/admin/").status_code == 200


def test_customers_pages_do_not_ask_staff_for_mfa_and_non_staff_get_admins_own_refusal(cast):
    staff = staff_user("plain@casportal.test")
    client = Client()
    client.force_login(staff)
    assert client.get(reverse("account")).status_code == 200
    member = Client()
    member.force_login(cast.owner.user)
    response = member.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_a_session_that_passed_mfa_is_let_in():
    user = UserFactory.create(email="ok@casportal.test", is_staff=True, is_superuser=True)
    assert mfa_client(user).get("/admin/").status_code == 200
    assert Authenticator.objects.filter(user=user).exists()


def test_pages_outside_admin_do_not_load_the_user_for_the_mfa_check():
    client = Client()
    client.force_login(staff_user("staff@casportal.test", superuser=True))
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/healthz").status_code == 200
    assert ctx.captured_queries == []
