"""A forged consent callback learns nothing about which Microsoft 365 tenants other customers registered: the
portal says so only after the identity leg proved who signed in, and to which tenant."""

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from audit.models import Action, AuditEvent
from m365sim.seed import seed_tenant
from organizations.models import Organization
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


def forged_consent_callback(driver, tenant: str):
    """The signed-in admin's own valid state, with a `tenant` of their choosing."""
    started = driver.start()
    state = parse_qs(urlsplit(started["Location"]).query)["state"][0]
    query = urlencode({"admin_consent": "True", "tenant": tenant, "state": state})
    return driver.portal("get", f"/grant/consent/callback/?{query}")


def outcome(response) -> tuple[int, str]:
    location = urlsplit(response.get("Location", ""))
    return response.status_code, location.path.split("/", 2)[-1]


def test_a_registered_and_an_unregistered_tenant_get_the_same_answer(cast, driver):
    registered = seed_tenant("fabrikam", users=2, groups=0, members_per_group=0).tenant
    unregistered = seed_tenant("northwind", users=2, groups=0, members_per_group=0).tenant
    fabrikam = OrganizationFactory.create(name="Fabrikam")
    Organization.objects.filter(pk=fabrikam.pk).update(microsoft_tenant_id=registered.id)

    to_registered = forged_consent_callback(driver, str(registered.id))
    driver.portal("post", f"/o/{cast.organization.slug}/services/exchange-online/grant/cancel/")
    to_unregistered = forged_consent_callback(driver, str(unregistered.id))

    assert to_registered.status_code == to_unregistered.status_code == 302
    assert outcome(to_registered)[1] == outcome(to_unregistered)[1] == "oauth2/v2.0/authorize"
    for response in (to_registered, to_unregistered):
        assert "already registered" not in response.content.decode()
    assert not AuditEvent.objects.filter(action=Action.GRANT_REFUSED).exists()
