from django.http import HttpRequest

from tenants.scoping import memberships_of


def organizations(request: HttpRequest) -> dict:
    """The signed-in user's organizations, for the switcher in the navigation."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    memberships = getattr(request, "user_memberships", None)
    return {
        "user_memberships": memberships if memberships is not None else memberships_of(request.user),
        "current_tenant": getattr(request, "tenant", None),
        "current_membership": getattr(request, "membership", None),
    }
