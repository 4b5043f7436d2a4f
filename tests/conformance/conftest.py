import pytest

from m365sim import services
from m365sim.models import Application, Tenant, User
from m365sim.seed import seed_tenant
from tests.conformance.sdk import Reroute


@pytest.fixture
def tenant() -> Tenant:
    """Contoso with 250 users (253 with admin@, pra@ and alex@: three pages of 100) and consent granted."""
    tenant = seed_tenant("contoso", users=250, groups=4, members_per_group=5).tenant
    admin = User.objects.get(user_principal_name="admin@contoso.onmicrosoft.com")
    services.grant_admin_consent(tenant, Application.objects.get(), user=admin)
    return tenant


@pytest.fixture
def reroute(m365sim_live) -> Reroute:
    """Microsoft's hosts to the simulator on its live port."""
    return Reroute(m365sim_live.url)
