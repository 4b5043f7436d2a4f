from collections.abc import Callable
from urllib.parse import urlencode

from allauth.account.authentication import get_authentication_records
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse


def passed_mfa(request: HttpRequest) -> bool:
    """Whether this session's login included a second factor (allauth records each authentication step)."""
    return any(record.get("method") == "mfa" for record in get_authentication_records(request, request.user))


class StaffMFAMiddleware:
    """allauth cannot require MFA: before any Django admin page opens, a staff member without TOTP is sent to
    set it up, and one whose session has not passed it is asked for a code."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The path comes first: other pages never load the session's user here.
        if (
            request.path.startswith(reverse("admin:index"))
            and request.path not in (reverse("admin:login"), reverse("admin:logout"))
            and request.user.is_authenticated
            and request.user.is_staff
            and not passed_mfa(request)
        ):
            if not is_mfa_enabled(request.user, [Authenticator.Type.TOTP]):
                return HttpResponseRedirect(reverse("mfa_activate_totp"))
            return HttpResponseRedirect(
                f"{reverse('mfa_reauthenticate')}?{urlencode({'next': request.get_full_path()})}"
            )
        return self.get_response(request)
