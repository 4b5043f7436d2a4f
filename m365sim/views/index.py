"""The simulator's root page: its tenants and the accounts that can sign in, for a developer who opens it."""

from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from m365sim import directory
from m365sim.models import RoleAssignment, Tenant, User
from m365sim.seed import DEMO_PASSWORD


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    sign_in = User.objects.filter(deleted_at__isnull=True).exclude(password="").order_by("user_principal_name")
    tenants = Tenant.objects.prefetch_related(
        "domains",
        Prefetch(
            "user_set",
            queryset=sign_in.prefetch_related(Prefetch("role_assignments", RoleAssignment.objects.all())),
            to_attr="sign_in_users",
        ),
    )
    rows = [
        {
            "tenant": tenant,
            "users": [
                {
                    "user": user,
                    "roles": [
                        directory.ROLE_NAMES.get(r.role_template_id, r.role_template_id)
                        for r in user.role_assignments.all()
                    ],
                }
                for user in tenant.sign_in_users
            ],
        }
        for tenant in tenants
    ]
    return render(request, "m365sim/index.html", {"rows": rows, "demo_password": DEMO_PASSWORD})
