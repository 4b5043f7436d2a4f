from dataclasses import dataclass

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from organizations.models import Membership
from organizations.scoping import SWITCHER_SIZE, recent_memberships


@dataclass(frozen=True)
class Switcher:
    memberships: list[Membership]  # by name
    more: bool  # the user belongs to more organizations than are listed


def _switcher(request: HttpRequest) -> Switcher:
    # Organization pages have already read the recent memberships; other pages read them if they show the menu.
    recent = getattr(request, "recent_memberships", None)
    if recent is None:
        assert request.user.is_authenticated  # the switcher is only shown to a signed-in user
        recent = recent_memberships(request.user)
    listed = recent[:SWITCHER_SIZE]
    current = getattr(request, "membership", None)
    if current is not None and current not in listed:
        listed = [current, *listed[: SWITCHER_SIZE - 1]]  # visited for the first time in a while
    listed = sorted(listed, key=lambda membership: (membership.organization.name.lower(), membership.pk))
    return Switcher(memberships=listed, more=len(recent) > SWITCHER_SIZE)


def organizations(request: HttpRequest) -> dict:
    """The signed-in user's organizations, for the switcher in the navigation."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "switcher": SimpleLazyObject(lambda: _switcher(request)),
        "current_organization": getattr(request, "organization", None),
        "current_membership": getattr(request, "membership", None),
    }
