from django.http import HttpRequest

from tenants.models import Membership


def organizations(request: HttpRequest) -> dict:
    """The signed-in user's organizations, for the switcher in the navigation."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "user_memberships": Membership.objects.filter(user=request.user).select_related("tenant"),
        "current_tenant": getattr(request, "tenant", None),
        "current_membership": getattr(request, "membership", None),
    }
