from django.http import HttpRequest

from connection.credential import credential_rejected
from connection.health import open_incident


def connection_banners(request: HttpRequest) -> dict:
    """On an organization's pages: a broken connection of theirs, or the portal's own rejected credential."""
    organization = getattr(request, "organization", None)
    if organization is None:
        return {}
    return {"connection_incident": open_incident(organization), "app_credential_rejected": credential_rejected()}
