"""Tokens straight from the simulator's token endpoint, for testing its Graph endpoints."""

from django.conf import settings

from m365sim.testing import SimulatorClient


def app_token(m365sim: SimulatorClient, tenant_id: str, secret: str | None = None) -> str:
    response = m365sim.browser().post(
        f"{m365sim.url}/{tenant_id}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": settings.MICROSOFT_CLIENT_ID,
            "client_secret": secret or settings.MICROSOFT_CLIENT_SECRET,
            "scope": "https://graph.microsoft.com/.default",
        },
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def graph_getter(m365sim: SimulatorClient, tenant_id: str):
    """GET on Graph with an app-only token of the tenant; a full link (a nextLink) or a path below /v1.0/."""
    token = app_token(m365sim, tenant_id)
    browser = m365sim.browser()

    def get(path: str, **headers: str):
        path = path.split("/v1.0/", 1)[1] if "://" in path else path
        return browser.get(f"{m365sim.url}/graph/v1.0/{path}", headers={"Authorization": f"Bearer {token}", **headers})

    return get
