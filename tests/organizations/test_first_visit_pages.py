"""First visits: the set-password link `create_organization` sends a new administrator says what it is and ends at the
sign-in; a staff member's first visit to Django admin names each step where it is asked, from one template."""

import re
from io import StringIO

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from tests.accounts.test_login_and_mfa import current_code, log_in
from tests.admin.staff import staff_user
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

STEP_TITLES = (
    "Your password.",
    "Your enrolment link.",
    "Your password once more.",
    "Your authenticator app.",
    "Your recovery codes.",
    "A code from the app.",
)


def text_of(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def set_password_link() -> str:
    out = StringIO()
    call_command("create_organization", "Adventure Works", "--admin", "first@adventure-works.test", stdout=out)
    return re.findall(r"https?://\S+", out.getvalue())[-1].split("://", 1)[1].split("/", 1)[1]


def test_the_set_password_link_asks_to_choose_a_password_and_ends_at_the_sign_in(client):
    page = client.get("/" + set_password_link(), follow=True)
    text = text_of(page)
    assert "Choose your password" in text
    assert "Change Password" not in text
    form_url = page.redirect_chain[-1][0] if page.redirect_chain else page.request["PATH_INFO"]
    done = client.post(
        form_url, {"password1": "a long new password 9", "password2": "a long new password 9"}, follow=True
    )
    text = text_of(done)
    assert "Your password is set" in text
    assert "Password successfully changed." not in text, "the page says it; no second message"
    assert f'href="{reverse("account_login")}"' in text
    assert Client().login(email="first@adventure-works.test", password="a long new password 9")


def test_a_used_set_password_link_says_what_to_do(client):
    link = "/" + set_password_link()
    page = client.get(link, follow=True)
    form_url = page.redirect_chain[-1][0]
    client.post(form_url, {"password1": "a long new password 9", "password2": "a long new password 9"})
    again = text_of(Client().get(link, follow=True))
    assert "This link no longer works" in again
    assert f'href="{reverse("account_reset_password")}">Ask for a new link</a>' in again


def test_changing_a_password_on_the_account_page_still_says_so(cast):
    client = Client()
    client.force_login(cast.owner.user)
    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": "another long password 7", "password2": "another long password 7"},
        follow=True,
    )
    assert "Password successfully changed." in text_of(response)


def steps_on(page: str) -> list[str]:
    return [title for title in STEP_TITLES if f"<strong>{title}</strong>" in page]


def test_a_staff_members_first_visit_names_each_step_where_it_is_asked():
    user = staff_user("newcomer@casportal.test", superuser=True)
    client = Client()
    assert log_in(client, user.email).status_code == 302
    enrolment_page = text_of(client.get("/admin/", follow=True))
    assert steps_on(enrolment_page) == list(STEP_TITLES), "the enrolment page lists them all"
    assert "Your first visit to Django admin takes six steps" in enrolment_page

    out = StringIO()
    call_command("issue_staff_enrolment", user.email, stdout=out)
    link = re.findall(r"https?://\S+", out.getvalue())[-1].split("://", 1)[1].split("/", 1)[1]
    assert steps_on(text_of(client.get("/" + link))) == list(STEP_TITLES)
    activate = client.post("/" + link, follow=True)
    password_again = text_of(activate)
    assert "Two-factor set-up for staff, step 3 of 6" in password_again
    assert steps_on(password_again) == ["Your password once more."]

    authenticator = text_of(
        client.post(
            reverse("account_reauthenticate"), {"password": PASSWORD, "next": reverse("mfa_activate_totp")}, follow=True
        )
    )
    assert steps_on(authenticator) == ["Your authenticator app."]
    codes = client.post(
        reverse("mfa_activate_totp"), {"code": current_code(client.session[SECRET_SESSION_KEY])}, follow=True
    )
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    recovery = text_of(codes)
    assert steps_on(recovery) == ["Your recovery codes."]
    assert '<label for="recovery_codes" class="form-label">Unused codes</label>' in recovery
    assert f'href="{reverse("admin:index")}">Continue to Django admin</a>' in recovery
    code_page = text_of(client.get("/admin/", follow=True))
    assert steps_on(code_page) == ["A code from the app."]


def test_customers_pages_carry_no_staff_steps(cast):
    client = Client()
    assert log_in(client, cast.owner.user.email).status_code == 302
    password_again = text_of(client.get(reverse("mfa_activate_totp"), follow=True))
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD, "next": reverse("mfa_activate_totp")})
    authenticator = text_of(client.get(reverse("mfa_activate_totp")))
    assert "scan the QR code below with your authenticator app" in authenticator
    for page in (password_again, authenticator):
        assert "Two-factor set-up for staff" not in page
