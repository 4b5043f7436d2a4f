import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import (
    SECRET_SESSION_KEY,
    format_hotp_value,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.test import Client
from django.urls import reverse

from audit.models import Action, AuditEvent
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def current_code(secret: str) -> str:
    counter = next(iter(yield_hotp_counters_from_time()))
    return format_hotp_value(hotp_value(secret, counter))


def log_in(client: Client, email: str, password: str = PASSWORD):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def test_login_lands_on_the_last_used_organization_and_is_audited(cast):
    client = Client()
    response = log_in(client, cast.owner.user.email)
    assert response.status_code == 302
    landing = client.get(response["Location"])
    assert landing.status_code == 302
    assert landing["Location"] == reverse("dashboard", args=[cast.organization.slug])
    assert AuditEvent.objects.filter(action=Action.LOGIN, actor=cast.owner.user).exists()


def test_wrong_password_is_refused_and_audited(cast):
    client = Client()
    response = log_in(client, cast.owner.user.email, "not the password")
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action=Action.LOGIN_FAILED, target=cast.owner.user.email).exists()


def test_failed_logins_are_rate_limited(cast):
    client = Client()
    limited = "Too many failed login attempts"
    pages = [log_in(client, cast.owner.user.email, f"wrong-{n}").content.decode() for n in range(6)]
    assert not any(limited in page for page in pages[:5])
    assert limited in pages[5]
    # Even the right password is refused while the limit holds.
    assert limited in log_in(client, cast.owner.user.email).content.decode()
    assert "_auth_user_id" not in client.session


def test_logout_is_audited(cast):
    client = Client()
    log_in(client, cast.owner.user.email)
    client.post(reverse("account_logout"))
    assert AuditEvent.objects.filter(action=Action.LOGOUT, actor=cast.owner.user).exists()


def enrol_totp(client: Client) -> str:
    # allauth asks for the password again before a security change.
    assert client.get(reverse("mfa_activate_totp")).status_code == 302
    assert client.post(reverse("account_reauthenticate"), {"password": PASSWORD}).status_code == 302
    page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200
    secret = client.session[SECRET_SESSION_KEY]
    response = client.post(reverse("mfa_activate_totp"), {"code": current_code(secret)})
    assert response.status_code == 302, response.content.decode()[:2000]
    return secret


def test_totp_enrolment_then_login_asks_for_the_code(cast, django_capture_on_commit_callbacks):
    user = cast.owner.user
    client = Client()
    log_in(client, user.email)
    with django_capture_on_commit_callbacks(execute=True):
        secret = enrol_totp(client)
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    assert AuditEvent.objects.filter(action=Action.MFA_ENABLED, actor=user).exists()
    client.post(reverse("account_logout"))

    fresh = Client()
    response = log_in(fresh, user.email)
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_authenticate")
    assert "_auth_user_id" not in fresh.session
    wrong = fresh.post(
        reverse("mfa_authenticate"), {"code": "000000" if current_code(secret) != "000000" else "111111"}
    )
    assert wrong.status_code == 200
    assert "_auth_user_id" not in fresh.session
    response = fresh.post(reverse("mfa_authenticate"), {"code": current_code(secret)})
    assert response.status_code == 302
    assert fresh.session["_auth_user_id"] == str(user.pk)


def test_totp_secret_is_encrypted_at_rest(cast):
    client = Client()
    log_in(client, cast.owner.user.email)
    secret = enrol_totp(client)
    stored = Authenticator.objects.get(user=cast.owner.user, type=Authenticator.Type.TOTP).data["secret"]
    assert secret not in stored
    assert stored != secret


def test_disabling_totp_is_audited(cast):
    client = Client()
    log_in(client, cast.owner.user.email)
    enrol_totp(client)
    response = client.post(reverse("mfa_deactivate_totp"))
    assert response.status_code == 302
    assert not Authenticator.objects.filter(user=cast.owner.user, type=Authenticator.Type.TOTP).exists()
    assert AuditEvent.objects.filter(action=Action.MFA_DISABLED, actor=cast.owner.user).exists()


@pytest.mark.usefixtures("db")
def test_admin_login_goes_through_allauth():
    response = Client().get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
