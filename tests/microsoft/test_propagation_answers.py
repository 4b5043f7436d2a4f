"""What the token endpoint and Graph answer while a consent propagates, as the portal's clients name it."""

import datetime as dt

import pytest
from django.utils import timezone

from m365sim import services as sim
from m365sim.models import ServicePrincipal
from microsoft import errors, identity
from microsoft.graph import GraphClient

pytestmark = [pytest.mark.django_db(databases=["default", "m365sim"]), pytest.mark.usefixtures("m365sim")]


def in_phase(tenant, field: str) -> None:
    sim.set_faults(tenant, **{field: 600})
    ServicePrincipal.objects.update(admin_consented_at=timezone.now() - dt.timedelta(seconds=1))


def test_no_service_principal_yet_is_service_principal_missing(contoso_consented):
    in_phase(contoso_consented, "token_propagation_seconds")
    with pytest.raises(errors.ServicePrincipalMissing) as missing:
        identity.acquire_app_token(str(contoso_consented.id), fresh=True)
    assert missing.value.code == 7000229


def test_an_application_the_tenant_does_not_know_is_service_principal_missing(contoso_consented, settings):
    settings.MICROSOFT_CLIENT_ID = "11111111-1111-1111-1111-111111111111"
    with pytest.raises(errors.ServicePrincipalMissing) as missing:
        identity.acquire_app_token(str(contoso_consented.id), fresh=True)
    assert missing.value.code == 700016


def test_a_token_without_the_roles_is_permission_missing(contoso_consented):
    in_phase(contoso_consented, "consent_propagation_seconds")
    with pytest.raises(errors.PermissionMissing) as missing:
        GraphClient(str(contoso_consented.id), fresh_token=True).tenant_details()
    assert missing.value.status == 403


def test_graph_refusing_the_token_is_a_401(contoso_consented):
    in_phase(contoso_consented, "graph_propagation_seconds")
    with pytest.raises(errors.ConsentRevoked) as refused:
        GraphClient(str(contoso_consented.id), fresh_token=True).tenant_details()
    assert refused.value.status == 401
    assert not isinstance(refused.value, errors.PermissionMissing | errors.ServicePrincipalMissing)
