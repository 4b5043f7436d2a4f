"""An organization bound to a consented simulated Microsoft 365 tenant, for syncs that real workers carry out."""

from dataclasses import dataclass

from django.db import connections

from directory.models import SyncKind, SyncRun, SyncTrigger
from m365sim import services as sim
from m365sim.models import Application, ServicePrincipal
from m365sim.models import Tenant as SimTenant
from m365sim.models import User as SimUser
from m365sim.seed import seed_tenant
from organizations.models import Organization, ProtectedService, ServiceStatus
from tests.factories import ServiceAccountFactory


@dataclass
class Connected:
    service: ProtectedService
    sim_tenant: SimTenant
    admin: SimUser

    def run(self) -> SyncRun:
        run = SyncRun.objects.create(
            organization=self.service.organization, service=self.service, kind=SyncKind.FULL, trigger=SyncTrigger.GRANT
        )
        connections.close_all()
        return run

    def service_principal(self) -> ServicePrincipal:
        return ServicePrincipal.objects.get(tenant=self.sim_tenant)


def connect(
    organization: Organization, *, slug: str = "contoso", users: int, groups: int = 10, members_per_group: int = 20
) -> Connected:
    """The simulated tenant `slug` consented and bound to the organization, its Exchange Online account created,
    not yet synced."""
    result = seed_tenant(slug, users=users, groups=groups, members_per_group=members_per_group)
    admin = SimUser.objects.get(user_principal_name=f"admin@{slug}.onmicrosoft.com")
    sim.grant_admin_consent(result.tenant, Application.objects.get(), user=admin)
    organization.microsoft_tenant_id = result.tenant.id
    organization.save(update_fields=["microsoft_tenant_id"])
    service = ProtectedService.objects.get(organization=organization, kind="exchange-online")
    ServiceAccountFactory.create(
        service=service,
        microsoft_tenant_id=result.tenant.id,
        authorized_account=admin.user_principal_name,
        authorized_object_id=admin.id,
    )
    ProtectedService.objects.filter(pk=service.pk).update(status=ServiceStatus.PROVISIONING)
    return Connected(service=service, sim_tenant=result.tenant, admin=admin)
