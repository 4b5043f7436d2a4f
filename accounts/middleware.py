from collections.abc import Callable
from urllib.parse import urlencode

from allauth.account.authentication import get_authentication_records
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from accounts.enrolment import enrolment_permitted, has_totp
from accounts.models import User


def passed_mfa(request: HttpRequest) -> bool:
    """Whether this session's login included a second factor (allauth records each authentication step)."""
    return any(record.get("method") == "mfa" for record in get_authentication_records(request, request.user))


def _staff(request: HttpRequest) -> User | None:
    user = request.user
    return user if isinstance(user, User) and user.is_staff else None


class StaffMFAMiddleware:
    """allauth cannot require MFA: before any Django admin page opens, a staff member whose session has not passed
    TOTP is asked for a code, and one without TOTP is sent to the enrolment page. Staff set TOTP up only with an
    enrolment link (`accounts/enrolment.py`): allauth's setup page is refused to a staff session that has not
    redeemed one, so a password alone never enrols an authenticator."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The path comes first: other pages never load the session's user here.
        path = request.path
        enrolment_page = reverse("admin:accounts_user_mfa_enrolment")
        if (
            path.startswith(reverse("admin:index"))
            and path not in (reverse("admin:login"), reverse("admin:logout"))
            and not path.startswith(enrolment_page)
            and (staff := _staff(request)) is not None
            and not passed_mfa(request)
        ):
            if not has_totp(staff):
                return HttpResponseRedirect(enrolment_page)
            return HttpResponseRedirect(
                f"{reverse('mfa_reauthenticate')}?{urlencode({'next': request.get_full_path()})}"
            )
        if (
            path == reverse("mfa_activate_totp")
            and (staff := _staff(request)) is not None
            and not has_totp(staff)
            and not enrolment_permitted(request, staff)
        ):
            return HttpResponseRedirect(enrolment_page)
        return self.get_response(request)
