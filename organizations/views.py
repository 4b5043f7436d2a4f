from dataclasses import dataclass

from allauth.account.adapter import get_adapter as get_account_adapter
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import User
from audit.models import AuditEvent
from connection.models import ConnectionIncident
from coverage import display
from directory import runs
from directory.models import SyncRun
from grant import services as grants
from grant import status
from grant.models import GrantAttempt
from organizations import services
from organizations.forms import ChangeRoleForm, InviteMemberForm, PolicyToggleForm
from organizations.invitations import PENDING_INVITATION_SESSION_KEY, open_invitation_for_token
from organizations.models import (
    Invitation,
    Membership,
    Organization,
    Policy,
    ProtectedService,
    ServiceKind,
    ServiceStatus,
)
from organizations.scoping import (
    OrganizationRequest,
    organization_view,
    recent_memberships,
    scoped,
    scoped_get_or_404,
)

ACTIVITY_PAGE_SIZE = 50


def _first_error(exc: ValidationError) -> str:
    return exc.messages[0] if exc.messages else "That change is not allowed."


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("account_login")
    recent = recent_memberships(request.user)
    if not recent:
        return render(request, "organizations/no_organization.html")
    return redirect("dashboard", org_slug=recent[0].organization.slug)


def services_in_catalog_order(organization: Organization) -> list[ProtectedService]:
    return sorted(organization.services.all(), key=lambda service: service.catalog_position)


# All organizations (MSPs): the sorts and filters the page offers, by their query-string values.
ORGANIZATION_SORTS = {
    "name": (F("name").asc(),),
    "-name": (F("name").desc(),),
    "last_sync": (F("last_sync_at").asc(nulls_first=True), F("name").asc()),
    "-last_sync": (F("last_sync_at").desc(nulls_last=True), F("name").asc()),
}
BROKEN_FIRST = (F("broken").desc(), F("name").asc())
HEALTH_FILTERS = {
    "broken": Q(broken=True),
    "connected": Q(broken=False, microsoft_tenant_id__isnull=False),
    "not-connected": Q(microsoft_tenant_id__isnull=True),
}
ORGANIZATIONS_PAGE_SIZE = 50  # rows per page, as the Directory's pages


@dataclass(frozen=True)
class ServiceCell:
    """A service's status and, when it is protected, its coverage in short ("287/303 mailboxes")."""

    line: status.ServiceLine
    coverage: str = ""
    dropped: bool = False


@dataclass(frozen=True)
class OrganizationRow:
    organization: Organization
    cells: list[ServiceCell]
    testing: bool


def organizations_of(user: User) -> QuerySet[Organization]:
    """The user's organizations, each with its role, connection health, latest sync, what it synchronizes and its
    services (each knowing whether a grant of it is in progress, and its coverage); 2 queries."""
    latest_run = SyncRun.objects.filter(organization=OuterRef("pk")).order_by("-queued_at", "-pk")
    return (
        Organization.objects.filter(memberships__user=user)
        .annotate(
            role=F("memberships__role"),
            broken=Exists(ConnectionIncident.objects.filter(organization=OuterRef("pk"), closed_at__isnull=True)),
            last_sync_status=Subquery(latest_run.values("status")[:1]),
            last_sync_at=Subquery(latest_run.values("finished_at")[:1]),
            **status.scope_annotations(),
        )
        .prefetch_related(status.services_prefetch())
    )


def _organization_row(organization: Organization) -> OrganizationRow:
    scope = status.scope_from(organization)
    services = sorted(organization.services.all(), key=lambda service: service.catalog_position)
    lines = [
        status.ServiceLine(
            service, status.shown_status(service, scope, grant_in_progress=getattr(service, "grant_in_progress", False))
        )
        for service in services
    ]
    cells = []
    for line in lines:
        if line.service.status != ServiceStatus.PROTECTED:
            cells.append(ServiceCell(line))
            continue
        summary = getattr(line.service, "coverage", None)  # joined by services_prefetch
        dropped = summary is not None and summary.dropped
        cells.append(ServiceCell(line, display.compact(line.service.kind, summary), dropped))
    return OrganizationRow(organization, cells, testing=any(line.status.testing for line in lines))


@login_required
@require_GET
def all_organizations(request: HttpRequest) -> HttpResponse:
    """One row per organization of the signed-in user, broken connections first unless sorted otherwise."""
    assert request.user.is_authenticated  # login_required
    organizations = organizations_of(request.user)
    health = request.GET.get("health", "")
    if health in HEALTH_FILTERS:
        organizations = organizations.filter(HEALTH_FILTERS[health])
    status = request.GET.get("status", "")
    if status in ServiceStatus.values:
        organizations = organizations.filter(
            Exists(ProtectedService.objects.filter(organization=OuterRef("pk"), status=status))
        )
    sort = request.GET.get("sort", "")
    # Names repeat: the primary key settles ties, so no organization shows on two pages or on none.
    organizations = organizations.order_by(*ORGANIZATION_SORTS.get(sort, BROKEN_FIRST), F("pk").asc())
    # A count, then one page of rows and its services: 3 queries, however many organizations.
    page = Paginator(organizations, ORGANIZATIONS_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [_organization_row(organization) for organization in page]
    return render(
        request,
        "organizations/all_organizations.html",
        {
            "page": page,
            "rows": rows,
            "service_kinds": ServiceKind.choices,
            "health": health,
            "health_choices": [
                ("broken", "Access token invalid"),
                ("connected", "Connected"),
                ("not-connected", "Not connected"),
            ],
            "status": status,
            "status_choices": ServiceStatus.choices,
            "sort": sort,
        },
    )


@organization_view
@require_GET
def dashboard(request: OrganizationRequest) -> HttpResponse:
    organization = request.organization
    scope = status.scope_of(organization, runs.sync_settings_for(organization).mode)
    lines = status.service_lines(
        services_in_catalog_order(organization), scope, grants.in_flight(scoped(request, GrantAttempt))
    )
    protected = sum(1 for line in lines if line.service.status == ServiceStatus.PROTECTED)
    recent = scoped(request, AuditEvent).select_related("actor")[:5]
    return render(
        request,
        "organizations/dashboard.html",
        {"lines": lines, "scope": scope, "protected_count": protected, "recent_events": recent},
    )


@dataclass(frozen=True)
class PolicyGroup:
    service: ProtectedService
    policies: list[Policy]
    waits_for_grant: bool


@organization_view
@require_GET
def policies(request: OrganizationRequest) -> HttpResponse:
    by_service: dict[int, list[Policy]] = {}
    for policy in scoped(request, Policy).select_related("service"):
        by_service.setdefault(policy.service_id, []).append(policy)
    groups = [
        PolicyGroup(service, by_service.get(service.pk, []), services.policies_wait_for_grant(service))
        for service in services_in_catalog_order(request.organization)
    ]
    return render(request, "organizations/policies.html", {"policy_groups": groups})


@organization_view
@require_POST
def policy_toggle(request: OrganizationRequest, policy_id: str) -> HttpResponse:
    policy = scoped_get_or_404(request, Policy, public_id=policy_id)
    form = PolicyToggleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose whether to enable or disable the policy.")
        return redirect("policies", org_slug=request.organization.slug)
    enabled = form.cleaned_data["enabled"]
    try:
        services.set_policy_enabled(policy=policy, enabled=enabled, actor=request.user)
    except ValidationError as exc:
        messages.error(request, _first_error(exc))
    else:
        messages.success(
            request,
            f"{policy.name} is now {'enabled' if enabled else 'disabled'} for {policy.service.get_kind_display()}.",
        )
    return redirect("policies", org_slug=request.organization.slug)


@organization_view
@require_GET
def activity(request: OrganizationRequest) -> HttpResponse:
    events = scoped(request, AuditEvent).select_related("actor")
    page = Paginator(events, ACTIVITY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "organizations/activity.html", {"page": page})


def _members_page(request: OrganizationRequest, invite_form: InviteMemberForm, status: int = 200) -> HttpResponse:
    memberships = scoped(request, Membership).select_related("user").order_by("user__email")
    invitations = (
        scoped(request, Invitation)
        .filter(accepted_at__isnull=True, revoked_at__isnull=True)
        .select_related("invited_by")
    )
    admin_count = sum(1 for membership in memberships if membership.is_admin)
    return render(
        request,
        "organizations/members.html",
        {
            "memberships": memberships,
            "invitations": invitations,
            "invite_form": invite_form,
            "admin_count": admin_count,
            "role_form": ChangeRoleForm(),
        },
        status=status,
    )


@organization_view
@require_GET
def members(request: OrganizationRequest) -> HttpResponse:
    return _members_page(request, InviteMemberForm())


@organization_view
@require_POST
def member_invite(request: OrganizationRequest) -> HttpResponse:
    form = InviteMemberForm(request.POST)
    if form.is_valid():
        try:
            services.invite_member(
                organization=request.organization,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                actor=request.user,
            )
        except ValidationError as exc:
            form.add_error("email", exc)
        else:
            messages.success(request, f"Invitation sent to {form.cleaned_data['email']}.")
            return redirect("members", org_slug=request.organization.slug)
    return _members_page(request, form, status=400)


@organization_view
@require_POST
def member_role(request: OrganizationRequest, member_id: str) -> HttpResponse:
    membership = scoped_get_or_404(request, Membership, public_id=member_id)
    form = ChangeRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a role.")
    else:
        try:
            services.change_member_role(membership=membership, role=form.cleaned_data["role"], actor=request.user)
        except ValidationError as exc:
            messages.error(request, _first_error(exc))
        else:
            messages.success(request, f"{membership.user.email} is now {membership.get_role_display()}.")
    return redirect("members", org_slug=request.organization.slug)


@organization_view
@require_http_methods(["GET", "POST"])
def member_remove(request: OrganizationRequest, member_id: str) -> HttpResponse:
    membership = scoped_get_or_404(request, Membership, public_id=member_id)
    if request.method == "GET":
        return render(request, "organizations/member_remove.html", {"member": membership})
    try:
        services.remove_member(membership=membership, actor=request.user)
    except ValidationError as exc:
        messages.error(request, _first_error(exc))
        return redirect("members", org_slug=request.organization.slug)
    messages.success(request, f"{membership.user.email} was removed from {request.organization.name}.")
    if membership.user_id == request.user.pk:
        return redirect("home")
    return redirect("members", org_slug=request.organization.slug)


@organization_view
@require_POST
def invitation_revoke(request: OrganizationRequest, invitation_id: str) -> HttpResponse:
    invitation = scoped_get_or_404(request, Invitation, public_id=invitation_id)
    try:
        services.revoke_invitation(invitation=invitation, actor=request.user)
    except ValidationError as exc:
        messages.error(request, _first_error(exc))
    else:
        messages.success(request, f"The invitation of {invitation.email} was withdrawn.")
    return redirect("members", org_slug=request.organization.slug)


@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """Open to anyone holding the link: sign up (the only way in), log in, or accept."""
    found = open_invitation_for_token(token)
    if found is None:
        return render(request, "organizations/invitation_invalid.html", status=404)
    account_exists = get_user_model().objects.filter(email__iexact=found.email).exists()
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect(f"{reverse('account_login')}?next={request.path}")
        try:
            membership = services.accept_invitation(invitation=found, user=request.user)
        except ValidationError as exc:
            messages.error(request, _first_error(exc))
            return redirect("home")
        messages.success(request, f"Welcome to {membership.organization.name}.")
        return redirect("dashboard", org_slug=membership.organization.slug)
    if not request.user.is_authenticated and not account_exists:
        # Sign-up reads both: the adapter admits it, and allauth counts the address as verified.
        request.session[PENDING_INVITATION_SESSION_KEY] = token
        get_account_adapter(request).stash_verified_email(request, found.email)
    return render(request, "organizations/invitation.html", {"invitation": found, "account_exists": account_exists})
