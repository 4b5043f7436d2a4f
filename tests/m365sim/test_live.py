"""The simulator on a live port: real HTTP, as a browser or another process reaches it."""

import pytest

from m365sim.seed import seed_tenant
from microsoft import identity
from microsoft.graph import GraphClient
from tests.m365sim.browser import CONSENT_CALLBACK, IDENTITY_CALLBACK, admin_consent, callback_params

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "m365sim"])


def test_both_legs_and_graph_over_http(m365sim_live):
    seed_tenant("contoso", users=5, groups=1, members_per_group=2)
    browser = m365sim_live.browser()
    assert m365sim_live.url.startswith("http://localhost:")

    params = admin_consent(
        browser, identity.admin_consent_url(redirect_uri=CONSENT_CALLBACK, state="s"), "admin@contoso.onmicrosoft.com"
    )
    consent = identity.parse_admin_consent(params, expected_state="s")
    flow = identity.start_identity_leg(tenant_id=consent.tenant_id, redirect_uri=IDENTITY_CALLBACK)
    assert flow["auth_uri"].startswith(m365sim_live.url)
    admin = identity.finish_identity_leg(
        flow,
        callback_params(browser.get(flow["auth_uri"], allow_redirects=False), IDENTITY_CALLBACK),
        tenant_id=consent.tenant_id,
    )

    assert admin.is_global_admin
    assert GraphClient(consent.tenant_id).count_users() == 8
