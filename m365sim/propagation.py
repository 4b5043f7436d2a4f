"""How far an admin consent has spread through Microsoft's services, phase by phase.

Microsoft Entra is eventually consistent: a new service principal and its app role assignments reach each service
some time after the consent was written, and until then a read "returns Not Found" (Microsoft identity blog,
"Designing for Eventual Consistency for Microsoft Entra":
https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/). Microsoft gives
no figure for how long, so each phase's length is a fault of the simulated tenant, and the phases follow each
other from the moment of consent: first the token endpoint does not know the service principal, then it issues
tokens without the consented roles, then Graph does not yet accept the application's tokens.
"""

import datetime as dt
from enum import StrEnum

from django.utils import timezone

from m365sim.models import ServicePrincipal, Tenant


class Phase(StrEnum):
    SERVICE_PRINCIPAL = "service-principal"  # the token endpoint answers AADSTS7000229
    ROLES = "roles"  # tokens are issued without the consented roles (Graph answers 403)
    GRAPH = "graph"  # Graph answers 401 to the application's tokens
    PROPAGATED = "propagated"


def phase(sp: ServicePrincipal, tenant: Tenant, now: dt.datetime | None = None) -> Phase:
    """Where the service principal's last admin consent stands; a principal without one has nothing to spread."""
    if sp.admin_consented_at is None:
        return Phase.PROPAGATED
    elapsed = ((now or timezone.now()) - sp.admin_consented_at).total_seconds()
    for name, seconds in (
        (Phase.SERVICE_PRINCIPAL, tenant.token_propagation_seconds),
        (Phase.ROLES, tenant.consent_propagation_seconds),
        (Phase.GRAPH, tenant.graph_propagation_seconds),
    ):
        if elapsed < seconds:
            return name
        elapsed -= seconds
    return Phase.PROPAGATED
