"""Fixtures of the simulator's delta tests."""

import pytest

from tests.m365sim.tokens import app_token

GRAPH = "graph/v1.0"


@pytest.fixture
def get(m365sim, contoso_consented):
    """GET on Graph with an app-only token of Contoso; a full link (a nextLink) or a path below /v1.0/."""
    token = app_token(m365sim, str(contoso_consented.id))
    browser = m365sim.browser()

    def get(path: str, **headers: str):
        path = path.split("/v1.0/", 1)[1] if "://" in path else path
        return browser.get(f"{m365sim.url}/{GRAPH}/{path}", headers={"Authorization": f"Bearer {token}", **headers})

    return get
