"""The simulator's root page lists its tenants and the accounts that can sign in."""

import pytest

from m365sim import seed

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


def test_root_page_lists_tenants_and_sign_in_accounts(m365sim) -> None:
    result = seed.seed_tenant("fabrikam", users=3, groups=1, members_per_group=1)

    response = m365sim.browser().get(f"{m365sim.url}/", timeout=10)

    assert response.status_code == 200
    assert result.tenant.display_name in response.text
    assert str(result.tenant.id) in response.text
    assert "admin@fabrikam.onmicrosoft.com" in response.text
    assert "Global Administrator" in response.text
    assert seed.DEMO_PASSWORD in response.text


def test_root_page_without_tenants_says_how_to_seed_one(m365sim) -> None:
    response = m365sim.browser().get(f"{m365sim.url}/", timeout=10)

    assert response.status_code == 200
    assert "m365sim_seed --tenant" in response.text
