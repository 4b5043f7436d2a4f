"""Staff MFA is not trust-on-first-use: a staff account's password never opens Django admin and never enrols an
authenticator. A staff member sets TOTP up only with a single-use link another superuser emails to them (or the
server's `manage.py issue_staff_enrolment` prints), redeemed in their own signed-in session; each step audited."""

import re
from datetime import timedelta
from io import StringIO

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import StaffEnrolment, User
from audit.models import Action, AuditEvent
from support.staff import OPERATOR_GROUP
from tests.accounts.test_login_and_mfa import current_code, log_in
from tests.admin.staff import mfa_client, staff_user
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

ENROLMENT_PAGE = reverse("admin:accounts_user_mfa_enrolment")
ACTIVATE = reverse("mfa_activate_totp")
ADMIN_PAGES = ["/admin/", "/admin/accounts/user/", "/admin/tenants/organization/", "/admin/audit/auditevent/"]
REASON = "New support engineer, identity checked by the team lead (ticket 81)."


@pytest.fixture
def newcomer() -> User:
    return staff_user("newcomer@casportal.test", superuser=True)


@pytest.fixture
def root() -> User:
    return staff_user("root@casportal.test", superuser=True)


def signed_in(user: User) -> Client:
    """A browser that logged in with the password alone."""
    client = Client()
    assert log_in(client, user.email).status_code == 302
    return client


def try_to_enrol(client: Client) -> str:
    """allauth's TOTP setup as a browser goes through it: the password again, the QR code, a code. Where it ends."""
    response = client.get(ACTIVATE)
    if response.status_code == 302 and response["Location"].startswith(reverse("account_reauthenticate")):
        client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
        response = client.get(ACTIVATE)
    if response.status_code != 200:
        return response["Location"]
    secret = client.session[SECRET_SESSION_KEY]
    response = client.post(ACTIVATE, {"code": current_code(secret)})
    assert response.status_code == 302, response.content.decode()[:2000]
    return response["Location"]


def issue_link(root_client: Client, user: User, capture) -> str:
    mail.outbox.clear()
    with capture(execute=True):
        response = root_client.post(
            reverse("admin:accounts_user_changelist"),
            {
                "action": "send_enrolment_link",
                ACTION_CHECKBOX_NAME: [str(user.pk)],
                "confirm": "yes",
                "reason": REASON,
            },
        )
    assert response.status_code == 302
    [message] = mail.outbox
    assert message.to == [user.email]
    found = re.search(r"http://127\.0\.0\.1:8000(/admin/accounts/user/mfa-enrolment/[^/\s]+/)", str(message.body))
    assert found, message.body
    return found.group(1)


def messages_of(response) -> str:
    return " ".join(str(message) for message in get_messages(response.wsgi_request))


def test_a_password_alone_opens_no_admin_page(newcomer):
    client = signed_in(newcomer)
    for page in ADMIN_PAGES:
        response = client.get(page)
        assert response.status_code == 302
        assert response["Location"] == ENROLMENT_PAGE
    explained = client.get(ENROLMENT_PAGE)
    assert explained.status_code == 200
    body = explained.content.decode()
    assert "another superuser sends you a single-use enrolment link" in body
    assert "manage.py issue_staff_enrolment newcomer@casportal.test" in body
    assert "Organizations" not in body  # no admin navigation before the second factor


def test_a_password_alone_cannot_enrol_an_authenticator(newcomer):
    client = signed_in(newcomer)
    assert try_to_enrol(client) == ENROLMENT_PAGE
    # Straight to the setup form's POST, as a script would.
    assert client.post(ACTIVATE, {"code": "123456"})["Location"] == ENROLMENT_PAGE
    assert not Authenticator.objects.filter(user=newcomer).exists()
    assert client.get("/admin/")["Location"] == ENROLMENT_PAGE


def test_a_link_from_another_superuser_enrols_and_admin_opens(root, newcomer, django_capture_on_commit_callbacks):
    link = issue_link(mfa_client(root), newcomer, django_capture_on_commit_callbacks)
    issued = AuditEvent.objects.get(action=Action.STAFF_MFA_ENROLMENT_ISSUED)
    assert (issued.actor, issued.target, issued.details["reason"]) == (root, newcomer.email, REASON)

    client = signed_in(newcomer)
    page = client.get(link)
    assert page.status_code == 200
    assert "Set up two-factor authentication" in page.content.decode()
    assert StaffEnrolment.objects.get(user=newcomer).redeemed_at is None  # a GET changes nothing
    redeemed = client.post(link)
    assert redeemed.status_code == 302
    assert redeemed["Location"] == ACTIVATE
    with django_capture_on_commit_callbacks(execute=True):  # allauth signals the new authenticator on commit
        try_to_enrol(client)
    assert Authenticator.objects.filter(user=newcomer, type=Authenticator.Type.TOTP).exists()
    assert AuditEvent.objects.filter(action=Action.STAFF_MFA_ENROLMENT_REDEEMED, actor=newcomer).exists()
    assert AuditEvent.objects.filter(action=Action.MFA_ENABLED, actor=newcomer).exists()

    # From now on admin asks for the code, and opens with it.
    asked = client.get("/admin/")
    assert asked["Location"].startswith(reverse("mfa_reauthenticate"))


def test_the_link_works_once_and_only_in_the_session_that_redeemed_it(
    root, newcomer, django_capture_on_commit_callbacks
):
    link = issue_link(mfa_client(root), newcomer, django_capture_on_commit_callbacks)
    first = signed_in(newcomer)
    assert first.post(link).status_code == 302
    other = signed_in(newcomer)
    again = other.post(link)
    assert again.status_code == 403
    assert "already been used" in again.content.decode()
    assert try_to_enrol(other) == ENROLMENT_PAGE
    assert not Authenticator.objects.filter(user=newcomer).exists()


def test_a_link_for_another_staff_account_is_refused_and_kept(root, newcomer, django_capture_on_commit_callbacks):
    link = issue_link(mfa_client(root), newcomer, django_capture_on_commit_callbacks)
    intruder = signed_in(staff_user("intruder@casportal.test"))
    refused = intruder.post(link)
    assert refused.status_code == 403
    assert "for another staff account" in refused.content.decode()
    assert try_to_enrol(intruder) == ENROLMENT_PAGE
    assert StaffEnrolment.objects.get(user=newcomer).redeemed_at is None
    assert signed_in(newcomer).post(link)["Location"] == ACTIVATE


def test_an_expired_or_unknown_link_is_refused(root, newcomer, django_capture_on_commit_callbacks):
    link = issue_link(mfa_client(root), newcomer, django_capture_on_commit_callbacks)
    StaffEnrolment.objects.filter(user=newcomer).update(expires_at=timezone.now() - timedelta(seconds=1))
    client = signed_in(newcomer)
    expired = client.post(link)
    assert expired.status_code == 403
    assert "expired" in expired.content.decode()
    unknown = client.get(reverse("admin:accounts_user_mfa_enrolment_link", args=["x" * 43]))
    assert unknown.status_code == 403
    assert "not valid" in unknown.content.decode()
    assert try_to_enrol(client) == ENROLMENT_PAGE


def test_a_new_link_replaces_the_previous_one(root, newcomer, django_capture_on_commit_callbacks):
    root_client = mfa_client(root)
    old = issue_link(root_client, newcomer, django_capture_on_commit_callbacks)
    new = issue_link(root_client, newcomer, django_capture_on_commit_callbacks)
    client = signed_in(newcomer)
    assert client.post(old).status_code == 403
    assert client.post(new)["Location"] == ACTIVATE


def test_only_another_superuser_issues_links_and_only_for_staff_without_totp(root, newcomer, cast):
    root_client = mfa_client(root)
    changelist = reverse("admin:accounts_user_changelist")

    def send(client: Client, user: User) -> str:
        data = {"action": "send_enrolment_link", ACTION_CHECKBOX_NAME: [str(user.pk)], "confirm": "yes"}
        return messages_of(client.post(changelist, data | {"reason": REASON}))

    assert "Another superuser must issue your enrolment link" in send(root_client, root)
    assert "is not an active staff account" in send(root_client, cast.owner.user)
    with_totp = staff_user("has-totp@casportal.test")
    mfa_client(with_totp)
    assert "already has two-factor authentication" in send(root_client, with_totp)
    operator = mfa_client(staff_user("operator@casportal.test", group=OPERATOR_GROUP))
    assert "send_enrolment_link" not in operator.get(changelist).content.decode()
    operator.post(changelist, {"action": "send_enrolment_link", ACTION_CHECKBOX_NAME: [str(newcomer.pk)]})
    assert not StaffEnrolment.objects.exists()
    assert not AuditEvent.objects.filter(action=Action.STAFF_MFA_ENROLMENT_ISSUED).exists()


def test_the_command_prints_a_link_for_the_first_superuser(newcomer):
    out = StringIO()
    call_command("issue_staff_enrolment", "NEWCOMER@casportal.test", stdout=out)
    link = re.search(r"http://127\.0\.0\.1:8000(/admin/\S+/)", out.getvalue())
    assert link
    issued = AuditEvent.objects.get(action=Action.STAFF_MFA_ENROLMENT_ISSUED)
    assert (issued.actor, issued.target) == (None, newcomer.email)
    client = signed_in(newcomer)
    assert client.post(link.group(1))["Location"] == ACTIVATE
    try_to_enrol(client)
    assert Authenticator.objects.filter(user=newcomer, type=Authenticator.Type.TOTP).exists()
    with pytest.raises(CommandError, match="already has two-factor authentication"):
        call_command("issue_staff_enrolment", newcomer.email)
    with pytest.raises(CommandError, match="No account"):
        call_command("issue_staff_enrolment", "nobody@casportal.test")


def test_after_a_reset_staff_need_a_new_link_and_customers_do_not(cast, newcomer):
    operator = mfa_client(staff_user("operator@casportal.test", group=OPERATOR_GROUP))
    mfa_client(newcomer)  # enrolled
    reset = operator.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "reset_mfa", ACTION_CHECKBOX_NAME: [str(newcomer.pk)], "confirm": "yes", "reason": REASON},
    )
    assert "as staff they set it up again only with an enrolment link" in messages_of(reset)
    client = signed_in(newcomer)
    assert client.get("/admin/")["Location"] == ENROLMENT_PAGE
    assert try_to_enrol(client) == ENROLMENT_PAGE
    # A customer still sets two-factor authentication up on their own, on the Account page.
    customer = signed_in(cast.owner.user)
    try_to_enrol(customer)
    assert Authenticator.objects.filter(user=cast.owner.user, type=Authenticator.Type.TOTP).exists()
