import pytest


@pytest.fixture
def live_simulator(m365sim_live):
    return m365sim_live
