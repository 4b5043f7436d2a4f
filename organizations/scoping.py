"""The one way to reach an organization and its rows on behalf of a user.

A user who is not a member gets 404, exactly as for an organization that does not exist; a read-only
member gets 403 on every method that writes.
"""

from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import models
from django.db.models import F, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone

from accounts.models import User
from organizations.models import Membership, Organization

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LAST_ORGANIZATION_SESSION_KEY = "tenants.last_organization"

M = TypeVar("M", bound=models.Model)


# The navigation's switcher lists this many organizations, the most recently used; All organizations has the rest.
SWITCHER_SIZE = 10


class OrganizationRequest(HttpRequest):
    organization: Organization
    membership: Membership
    recent_memberships: list[Membership]


def recent_memberships(user: User) -> list[Membership]:
    """The user's most recently used memberships with their organizations: one more than the switcher shows, so it
    knows whether there are others."""
    memberships = Membership.objects.filter(user=user).select_related("organization")
    most_recent_first = memberships.order_by(F("last_used_at").desc(nulls_last=True), "organization__name", "pk")
    return list(most_recent_first[: SWITCHER_SIZE + 1])


def membership_for(user: User, slug: str) -> Membership:
    try:
        return Membership.objects.select_related("organization").get(organization__slug=slug, user=user)
    except Membership.DoesNotExist:
        raise Http404 from None


def scoped(request: OrganizationRequest, model: type[M]) -> QuerySet[M]:
    """The tenant-owned rows of the request's organization: how views list them."""
    return model._default_manager.filter(organization=request.organization)


def scoped_get_or_404(request: OrganizationRequest, model: type[M], **lookup: object) -> M:
    """A tenant-owned row of the request's organization, or 404."""
    try:
        row = model._default_manager.get(organization=request.organization, **lookup)
    except (ObjectDoesNotExist, ValueError, ValidationError):
        raise Http404 from None
    row.organization = request.organization  # type: ignore[attr-defined]  # the organization already loaded, not a query
    return row


def _remember(request: HttpRequest, membership: Membership) -> None:
    # The last organization only decides where the next login lands; write it once per switch.
    if request.session.get(LAST_ORGANIZATION_SESSION_KEY) != membership.organization.slug:
        request.session[LAST_ORGANIZATION_SESSION_KEY] = membership.organization.slug
        Membership.objects.filter(pk=membership.pk).update(last_used_at=timezone.now())


ViewFunc = Callable[..., HttpResponse]


def organization_view(view: ViewFunc) -> ViewFunc:
    """Resolve `org_slug` to the user's membership; 404 for non-members, 403 on writes for read-only."""

    @wraps(view)
    def wrapper(request: HttpRequest, org_slug: str, *args: object, **kwargs: object) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        # Usually one query: the switcher's recent organizations include the one being visited.
        recent = recent_memberships(request.user)
        membership = next((m for m in recent if m.organization.slug == org_slug), None) or membership_for(
            request.user, org_slug
        )
        request.recent_memberships = recent  # type: ignore[attr-defined]
        request.membership = membership  # type: ignore[attr-defined]
        request.organization = membership.organization  # type: ignore[attr-defined]
        # After the attributes, so that the 403 page keeps the organization's navigation.
        if request.method not in SAFE_METHODS and not membership.is_admin:
            raise PermissionDenied("Read-only members cannot make changes.")
        _remember(request, membership)
        return view(request, *args, **kwargs)

    return wrapper
