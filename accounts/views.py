from allauth.mfa.utils import is_mfa_enabled
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.models import User


@login_required
@require_GET
def account(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)  # login_required
    memberships = user.memberships.select_related("organization")
    return render(
        request,
        "accounts/account.html",
        {"memberships": memberships, "mfa_enabled": is_mfa_enabled(user)},
    )
