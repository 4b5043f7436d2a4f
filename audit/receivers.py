"""Authentication events come from Django's and allauth's signals, which pass their arguments by keyword."""

from allauth.mfa.models import Authenticator
from allauth.mfa.signals import authenticator_added, authenticator_removed
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from audit.models import Action
from audit.services import record_event


@receiver(user_logged_in)
def on_login(*, user: AbstractBaseUser, **kwargs: object) -> None:
    record_event(Action.LOGIN, actor=user, target=user.get_username())


@receiver(user_logged_out)
def on_logout(*, user: AbstractBaseUser | None, **kwargs: object) -> None:
    if user is not None:
        record_event(Action.LOGOUT, actor=user, target=user.get_username())


@receiver(user_login_failed)
def on_login_failed(*, credentials: dict[str, object], **kwargs: object) -> None:
    # Credentials are cleansed by Django; only the identifier is kept.
    attempted = credentials.get("email") or credentials.get("username") or ""
    record_event(Action.LOGIN_FAILED, actor=None, target=str(attempted))


@receiver(authenticator_added)
def on_authenticator_added(*, user: AbstractBaseUser, authenticator: Authenticator, **kwargs: object) -> None:
    if authenticator.type == Authenticator.Type.TOTP:
        record_event(Action.MFA_ENABLED, actor=user, target=user.get_username(), details={"type": authenticator.type})


@receiver(authenticator_removed)
def on_authenticator_removed(*, user: AbstractBaseUser, authenticator: Authenticator, **kwargs: object) -> None:
    if authenticator.type == Authenticator.Type.TOTP:
        record_event(Action.MFA_DISABLED, actor=user, target=user.get_username(), details={"type": authenticator.type})
