from django.http import HttpRequest

from provisioning.credential import credential_rejected


def connection_banners(request: HttpRequest) -> dict:
    """On an organization's pages: whether Microsoft currently rejects the portal's own credential."""
    if getattr(request, "tenant", None) is None:
        return {}
    return {"app_credential_rejected": credential_rejected()}
