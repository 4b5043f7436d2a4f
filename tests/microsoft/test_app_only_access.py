"""App-only tokens and the two kinds of broken access, told apart: the customer's consent, the portal's credential."""

import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone

from m365sim import services as sim
from m365sim.models import ServicePrincipal
from microsoft import errors, identity
from microsoft.graph import GraphClient

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


def tid(tenant) -> str:
    return str(tenant.id)


def token_requests(m365sim, tenant) -> int:
    return m365sim.control("GET", f"tenants/{tenant.slug}/requests")["requests"].get("token", 0)


def test_app_only_token_is_shared_through_the_encrypted_cache(m365sim, contoso_consented):
    first = identity.acquire_app_token(tid(contoso_consented))
    second = identity.acquire_app_token(tid(contoso_consented))

    assert second.access_token == first.access_token
    assert token_requests(m365sim, contoso_consented) == 1
    stored = cache.get(f"msal:app-token-cache:{identity.settings.MICROSOFT_CLIENT_ID}:{tid(contoso_consented)}")
    assert stored
    assert first.access_token not in stored


def test_fresh_bypasses_the_cache(m365sim, contoso_consented):
    identity.acquire_app_token(tid(contoso_consented))
    identity.acquire_app_token(tid(contoso_consented), fresh=True)

    assert token_requests(m365sim, contoso_consented) == 2


@pytest.mark.usefixtures("m365sim")
def test_discovery_is_shared_between_applications(contoso_consented):
    identity.acquire_app_token(tid(contoso_consented), fresh=True)
    keys = [key for key in cache._cache if "msal:discovery:" in key]  # type: ignore[attr-defined]
    assert len(keys) == 1


@pytest.mark.usefixtures("m365sim")
def test_expired_secret_is_app_credential_invalid(contoso_consented, portal_app):
    sim.expire_secrets(portal_app)

    with pytest.raises(errors.AppCredentialInvalid) as excinfo:
        identity.acquire_app_token(tid(contoso_consented))
    assert excinfo.value.code == 7000222


@pytest.mark.usefixtures("m365sim")
def test_wrong_secret_is_app_credential_invalid(contoso_consented, settings):
    settings.MICROSOFT_CLIENT_SECRET = "not-the-secret"

    with pytest.raises(errors.AppCredentialInvalid) as excinfo:
        identity.acquire_app_token(tid(contoso_consented))
    assert excinfo.value.code == 7000215


@pytest.mark.usefixtures("m365sim")
def test_revoked_consent_is_consent_revoked_once_the_token_is_fresh(contoso_consented):
    client = GraphClient(tid(contoso_consented))
    client.tenant_details()
    sim.revoke_consent(ServicePrincipal.objects.get())

    # Microsoft honours the token issued before the revocation until it expires; a fresh one has no roles.
    assert client.tenant_details().id == tid(contoso_consented)
    with pytest.raises(errors.ConsentRevoked):
        GraphClient(tid(contoso_consented), fresh_token=True).tenant_details()


@pytest.mark.parametrize(("change", "code"), [("delete", 7000229), ("disable", 7000112)])
def test_deleted_or_disabled_service_principal_is_consent_revoked(m365sim, contoso_consented, change, code):
    m365sim.control(
        "POST", f"tenants/contoso/service-principals/{identity.settings.MICROSOFT_CLIENT_ID}", {"action": change}
    )

    with pytest.raises(errors.ConsentRevoked) as excinfo:
        identity.acquire_app_token(tid(contoso_consented))
    assert excinfo.value.code == code
    assert isinstance(excinfo.value, errors.ServicePrincipalMissing) == (change == "delete")
    assert not isinstance(excinfo.value, errors.AppCredentialInvalid)


@pytest.mark.usefixtures("m365sim")
def test_a_tenant_that_never_consented_is_consent_revoked(contoso):
    with pytest.raises(errors.ConsentRevoked) as excinfo:
        identity.acquire_app_token(tid(contoso))
    assert excinfo.value.code == 7000229


@pytest.mark.usefixtures("m365sim")
def test_permissions_lag_behind_consent_then_arrive(contoso_consented):
    sim.set_faults(contoso_consented, consent_propagation_seconds=120)

    with pytest.raises(errors.PermissionMissing):
        GraphClient(tid(contoso_consented), fresh_token=True).tenant_details()

    ServicePrincipal.objects.update(admin_consented_at=timezone.now() - dt.timedelta(minutes=3))
    assert GraphClient(tid(contoso_consented), fresh_token=True).tenant_details().id == tid(contoso_consented)


@pytest.mark.usefixtures("m365sim")
def test_token_endpoint_failures_are_transient(contoso_consented):
    sim.set_faults(contoso_consented, token_failures_next=1)

    with pytest.raises(errors.TransientError):
        identity.acquire_app_token(tid(contoso_consented))
    assert identity.acquire_app_token(tid(contoso_consented)).access_token


@pytest.mark.usefixtures("m365sim", "contoso")
def test_an_unknown_tenant_is_consent_revoked():
    with pytest.raises(errors.ConsentRevoked):
        identity.acquire_app_token("00000000-0000-0000-0000-000000000001")
