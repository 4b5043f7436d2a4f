from django.http import HttpRequest

from connection.credential import credential_rejected
from connection.health import open_incident


def connection_banners(request: HttpRequest) -> dict:
    """On an organization's pages: a broken connection of theirs, or the portal's own rejected credential."""
    tenant = getattr(request, "tenant", None)
    if tenant is None:
        return {}
    return {"connection_incident": open_incident(tenant), "app_credential_rejected": credential_rejected()}
