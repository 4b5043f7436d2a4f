"""Staff two-factor enrolment. A password alone never completes it: a staff account without an authenticator sets
one up only through a single-use link that another superuser sends to the staff member's email address (or that
`manage.py issue_staff_enrolment` prints, for the first superuser), opened while signed in as that account.

Redeeming the link lets this browser session open allauth's TOTP setup page until the link's expiry
(`StaffMFAMiddleware` refuses that page to other staff sessions without an authenticator). Issuing and redeeming
are audited; only a hash of the token is stored.
"""

import hashlib
import secrets
from datetime import timedelta

from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.actors import user_of
from accounts.models import StaffEnrolment, User
from audit.models import Action
from audit.services import Actor, record_event
from casportal.errors import ActionRefused

ENROLMENT_LINK_HOURS = 24
PERMIT_SESSION_KEY = "accounts.staff_mfa_enrolment"


class EnrolmentRefused(ActionRefused):
    """An enrolment link that cannot be issued or redeemed; the message says why."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def has_totp(user: User) -> bool:
    return is_mfa_enabled(user, [Authenticator.Type.TOTP])


@transaction.atomic
def issue_enrolment(*, user: User, actor: Actor, reason: str) -> str:
    """A new enrolment link for a staff member without TOTP; any earlier open link of theirs stops working.

    `actor` is the superuser who issues it, or None for the management command. Returns the link.
    """
    issuer = user_of(actor)
    if issuer is not None and not issuer.is_superuser:
        raise EnrolmentRefused("Only a superuser can issue a two-factor enrolment link.")
    if issuer is not None and issuer.pk == user.pk:
        raise EnrolmentRefused("Another superuser must issue your enrolment link: a password alone never enrols.")
    if not (user.is_staff and user.is_active):
        raise EnrolmentRefused(f"{user.email} is not an active staff account.")
    if has_totp(user):
        raise EnrolmentRefused(f"{user.email} already has two-factor authentication; reset it first.")
    if not reason.strip():
        raise EnrolmentRefused("Say why the link is issued.")
    now = timezone.now()
    StaffEnrolment.objects.filter(user=user, redeemed_at__isnull=True, expires_at__gt=now).update(expires_at=now)
    token = secrets.token_urlsafe(32)
    enrolment = StaffEnrolment.objects.create(
        user=user,
        token_hash=_hash(token),
        issued_by=issuer,
        expires_at=now + timedelta(hours=ENROLMENT_LINK_HOURS),
    )
    record_event(
        Action.STAFF_MFA_ENROLMENT_ISSUED,
        actor=actor,
        target=user.email,
        details={"support": True, "reason": reason, "expires_at": enrolment.expires_at.isoformat()},
    )
    return settings.PORTAL_BASE_URL + reverse("admin:accounts_user_mfa_enrolment_link", args=[token])


def email_enrolment_link(*, user: User, link: str) -> None:
    """Sent to the staff member's own address once the issuing transaction commits."""
    context = {"user": user, "link": link, "hours": ENROLMENT_LINK_HOURS}
    transaction.on_commit(
        lambda: send_mail(
            subject="Set up two-factor authentication for casportal support",
            message=render_to_string("accounts/email/staff_enrolment.txt", context),
            from_email=None,
            recipient_list=[user.email],
        )
    )


def check_enrolment(*, token: str, user: User) -> StaffEnrolment:
    """The open enrolment the token names, for this user; else EnrolmentRefused saying why."""
    enrolment = StaffEnrolment.objects.filter(token_hash=_hash(token)).select_related("user").first()
    if enrolment is None:
        raise EnrolmentRefused("This enrolment link is not valid. Ask a superuser for a new one.")
    if enrolment.user_id != user.pk:
        raise EnrolmentRefused("This enrolment link is for another staff account: sign in as that account.")
    if enrolment.redeemed_at is not None:
        raise EnrolmentRefused("This enrolment link has already been used. Ask a superuser for a new one.")
    if enrolment.expires_at <= timezone.now():
        raise EnrolmentRefused("This enrolment link has expired. Ask a superuser for a new one.")
    if has_totp(user):
        raise EnrolmentRefused("Your account already has two-factor authentication.")
    return enrolment


@transaction.atomic
def redeem_enrolment(request: HttpRequest, *, token: str, user: User) -> StaffEnrolment:
    """Use the link once: this session may set up TOTP until the link's expiry."""
    StaffEnrolment.objects.select_for_update().filter(token_hash=_hash(token)).first()
    enrolment = check_enrolment(token=token, user=user)
    enrolment.redeemed_at = timezone.now()
    enrolment.save(update_fields=["redeemed_at"])
    record_event(Action.STAFF_MFA_ENROLMENT_REDEEMED, actor=user, target=user.email)
    request.session[PERMIT_SESSION_KEY] = enrolment.pk
    return enrolment


def enrolment_permitted(request: HttpRequest, user: User) -> bool:
    """Whether this session redeemed an enrolment link of the user's that has not expired."""
    permit = request.session.get(PERMIT_SESSION_KEY)
    return permit is not None and (
        StaffEnrolment.objects.filter(
            pk=permit, user=user, redeemed_at__isnull=False, expires_at__gt=timezone.now()
        ).exists()
    )
