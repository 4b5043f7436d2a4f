"""Fixtures of the simulator's delta tests."""

import pytest

from tests.m365sim.tokens import graph_getter


@pytest.fixture
def get(m365sim, contoso_consented):
    """GET on Graph with an app-only token of Contoso."""
    return graph_getter(m365sim, str(contoso_consented.id))
