"""The simulator's pytest fixtures, loaded by tests/conftest.py as a plugin.

Tests that use them touch the simulator's database: mark them
`@pytest.mark.django_db(databases=["default", "m365sim"])` (`transaction=True` as well for `m365sim_live`).
"""

from collections.abc import Iterator

import pytest

from m365sim import services
from m365sim.models import Application, Tenant, User
from m365sim.seed import seed_tenant
from m365sim.testing import IN_PROCESS_URL, LiveSimulator, SimulatorClient, WSGITransport
from microsoft.http import MicrosoftSession


@pytest.fixture
def m365sim(settings, monkeypatch) -> SimulatorClient:
    """Routes the portal's MSAL and Graph calls to the simulator in-process; the returned client is the browser."""
    transport = WSGITransport()
    settings.MICROSOFT_SIMULATOR_URL = IN_PROCESS_URL
    settings.MICROSOFT_LOGIN_HOST = IN_PROCESS_URL
    monkeypatch.setattr(MicrosoftSession, "transport_overrides", {f"{IN_PROCESS_URL}/": transport})
    return SimulatorClient(IN_PROCESS_URL, transport)


@pytest.fixture
def m365sim_live(settings) -> Iterator[SimulatorClient]:
    """The simulator on a live localhost port (browsers, other processes); the portal's calls go there too."""
    live = LiveSimulator().start()
    settings.MICROSOFT_SIMULATOR_URL = live.url
    settings.MICROSOFT_LOGIN_HOST = live.url
    try:
        yield SimulatorClient(live.url)
    finally:
        live.stop()


@pytest.fixture
def contoso() -> Tenant:
    """A small Contoso (and the portal's app registration): admin@, pra@ and alex@contoso.onmicrosoft.com."""
    return seed_tenant("contoso", users=20, groups=4, members_per_group=5).tenant


@pytest.fixture
def portal_app(contoso: Tenant) -> Application:  # noqa: ARG001 (needed for its side effect: fixtures cannot take usefixtures)
    return Application.objects.get()


@pytest.fixture
def contoso_admin(contoso: Tenant) -> User:  # noqa: ARG001 (needed for its side effect: fixtures cannot take usefixtures)
    return User.objects.get(user_principal_name="admin@contoso.onmicrosoft.com")


@pytest.fixture
def contoso_consented(contoso: Tenant, portal_app: Application, contoso_admin: User) -> Tenant:
    """Contoso after its Global Administrator accepted the portal's permissions."""
    services.grant_admin_consent(contoso, portal_app, user=contoso_admin)
    return contoso
