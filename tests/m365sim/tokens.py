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
