"""Seed the load test: 50 organizations, 200 signed-in admins (sessions made directly), one sync to run.

Run with `python -m loadtest.seed OUT.json` under the load test's settings; writes the sessions and run id.
"""

import json
import sys

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.contrib.sessions.backends.base import SessionBase  # noqa: E402
from django.utils import timezone  # noqa: E402
from django.utils.module_loading import import_string  # noqa: E402

from accounts.models import User  # noqa: E402
from connection.models import ServiceAccount  # noqa: E402
from directory.models import SyncKind, SyncRun, SyncStatus, SyncStep, SyncTrigger  # noqa: E402
from m365sim import services as sim  # noqa: E402
from m365sim.models import Application  # noqa: E402
from m365sim.models import User as SimUser  # noqa: E402
from m365sim.seed import seed_tenant  # noqa: E402
from organizations import services  # noqa: E402
from organizations.models import Membership, ProtectedService, Role, ServiceStatus  # noqa: E402

ORGANIZATIONS, ADMINS_PER_ORGANIZATION = 50, 4
SYNC_USERS = 20_000


def main(out: str) -> None:
    organizations = [
        services.create_organization(name=f"Load {n:02}", slug=f"load-{n:02}", actor=None) for n in range(ORGANIZATIONS)
    ]
    password = make_password("load-test-password-not-used")  # hashed once: sessions are made directly below
    users = User.objects.bulk_create(
        User(email=f"admin{n:03}@load.test", password=password) for n in range(ORGANIZATIONS * ADMINS_PER_ORGANIZATION)
    )
    Membership.objects.bulk_create(
        Membership(organization=organizations[n // ADMINS_PER_ORGANIZATION], user=user, role=Role.ADMIN)
        for n, user in enumerate(users)
    )
    store: type[SessionBase] = import_string(f"{settings.SESSION_ENGINE}.SessionStore")
    sessions = []
    for n, user in enumerate(users):
        session = store()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        sessions.append({"session": session.session_key, "org": organizations[n // ADMINS_PER_ORGANIZATION].slug})

    # Every organization has Exchange Online protected and a finished sync, except the first: its sync runs.
    now = timezone.now()
    exchange = {s.organization_id: s for s in ProtectedService.objects.filter(kind="exchange-online")}
    result = seed_tenant("contoso", users=SYNC_USERS, groups=50, members_per_group=40)
    admin = SimUser.objects.get(user_principal_name="admin@contoso.onmicrosoft.com")
    sim.grant_admin_consent(result.tenant, Application.objects.get(), user=admin)
    sim.set_faults(result.tenant, latency_ms=700)  # a sync that outlasts the 60 s mixed phase
    live = organizations[0]
    live.microsoft_tenant_id = result.tenant.id
    live.save(update_fields=["microsoft_tenant_id"])
    ServiceAccount.objects.create(
        organization=live,
        service=exchange[live.pk],
        microsoft_tenant_id=result.tenant.id,
        authorized_account=admin.user_principal_name,
        authorized_object_id=admin.id,
        granted_at=now,
    )
    ProtectedService.objects.filter(pk=exchange[live.pk].pk).update(status=ServiceStatus.PROVISIONING)
    ProtectedService.objects.filter(kind="exchange-online").exclude(organization=live).update(
        status=ServiceStatus.PROTECTED, last_synced_at=now
    )
    SyncRun.objects.bulk_create(
        SyncRun(
            organization=t,
            service=exchange[t.pk],
            kind=SyncKind.FULL,
            trigger=SyncTrigger.GRANT,
            status=SyncStatus.SUCCEEDED,
            step=SyncStep.DONE,
            users_total=1000,
            users_synced=1000,
            groups_total=50,
            groups_synced=50,
            started_at=now,
            finished_at=now,
        )
        for t in organizations[1:]
    )
    run = SyncRun.objects.create(
        organization=live, service=exchange[live.pk], kind=SyncKind.FULL, trigger=SyncTrigger.GRANT
    )
    with open(out, "w") as f:
        json.dump({"cookie": settings.SESSION_COOKIE_NAME, "sessions": sessions, "run": run.pk}, f)


if __name__ == "__main__":
    main(sys.argv[1])
