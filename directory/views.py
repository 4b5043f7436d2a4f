"""The certain-users picker, a sync's progress, Sync now, Extend to all users, the Directory and Sync history."""

import uuid
from http import HTTPStatus
from itertools import islice

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from casportal.ratelimit import allow
from connection.models import ServiceAccount
from directory import runs, selection
from directory.forms import AddFromGroupForm, AddUserForm, GroupSearchForm
from directory.history import history_chart
from directory.models import (
    MAX_SELECTED_USERS,
    DirectoryGroup,
    DirectoryUser,
    GroupMembership,
    MemberType,
    SelectedUser,
    SyncMode,
    SyncRun,
)
from directory.progress import SUCCESS_SENTENCE, describe_progress
from grant import access
from microsoft import errors, graph
from organizations.models import ProtectedService, ServiceKind
from organizations.scoping import OrganizationRequest, organization_view, scoped, scoped_get_or_404

TOO_MANY_LOOKUPS = "Too many directory lookups in a minute; wait a moment and try again."


def _lookup_allowed(request: OrganizationRequest) -> bool:
    """Graph lookups from the picker are limited per organization."""
    return allow(f"user-picker:{request.organization.pk}", limit=settings.USER_PICKER_LOOKUPS_PER_MINUTE)


def _picker_client(request: OrganizationRequest) -> graph.GraphClient:
    assert request.organization.microsoft_tenant_id is not None
    return graph.GraphClient(str(request.organization.microsoft_tenant_id))


class GroupNotFound(Exception):
    pass


# The picker lists this many of a group's members at most; its users are chosen from them.
GROUP_MEMBERS_SHOWN = 500


def _group_users(request: OrganizationRequest, group_id: str) -> list[graph.DirectoryUser]:
    try:
        uuid.UUID(group_id)
    except ValueError:
        raise GroupNotFound from None
    try:
        members = _picker_client(request).iter_group_members(group_id)
        # Users only: a group also holds contacts, devices and service principals, and every user has a user
        # principal name (an object listed without one is no user to choose).
        return [
            member
            for member in islice(members, GROUP_MEMBERS_SHOWN)
            if isinstance(member, graph.DirectoryUser) and member.user_principal_name
        ]
    except errors.GraphError as exc:
        if exc.status == HTTPStatus.NOT_FOUND:
            raise GroupNotFound from exc
        raise


@organization_view
@require_GET
def selected_users(request: OrganizationRequest, service_kind: str) -> HttpResponse:
    service = scoped_get_or_404(request, ProtectedService, kind=service_kind)
    if not _picker_available(request, service):
        return redirect("service_status", org_slug=request.organization.slug)
    chosen = list(scoped(request, SelectedUser))
    search = GroupSearchForm(request.GET if "q" in request.GET else None)
    groups: list[graph.DirectoryGroup] = []
    members: list[graph.DirectoryUser] = []
    group_id = request.GET.get("group", "")
    status = 200
    if (search.is_bound and search.is_valid()) or group_id:
        if not _lookup_allowed(request):
            messages.error(request, TOO_MANY_LOOKUPS)
            status = 429
        else:
            try:
                if group_id:
                    members = _group_users(request, group_id)
                else:
                    groups = _picker_client(request).search_groups(search.cleaned_data["q"], limit=25)
            except GroupNotFound:
                messages.error(request, "That group does not exist in your directory.")
            except errors.MicrosoftError as exc:
                messages.error(request, f"The directory could not be searched: {exc.message}")
    elif search.is_bound:
        status = 400
    return render(
        request,
        "directory/selected_users.html",
        {
            "service": service,
            "chosen": chosen,
            "chosen_ids": {str(row.microsoft_id) for row in chosen},
            "search_form": search,
            "groups": groups,
            "group_id": group_id,
            "members": members,
            "max_users": MAX_SELECTED_USERS,
            "remaining": MAX_SELECTED_USERS - len(chosen),
        },
        status=status,
    )


def _picker_available(request: OrganizationRequest, service: ProtectedService) -> bool:
    available = (
        runs.sync_settings_for(request.organization).mode == SyncMode.CERTAIN
        and request.organization.microsoft_tenant_id is not None
        and hasattr(service, "service_account")
    )
    if not available:
        messages.info(request, "Choosing users applies to services granted with certain users, for testing.")
    return available


def _back_to_picker(request: OrganizationRequest, service: ProtectedService) -> HttpResponse:
    return redirect("selected_users", org_slug=request.organization.slug, service_kind=service.kind)


@organization_view
@require_POST
def selected_user_add(request: OrganizationRequest, service_kind: str) -> HttpResponse:
    service = scoped_get_or_404(request, ProtectedService, kind=service_kind)
    if not _picker_available(request, service):
        return redirect("service_status", org_slug=request.organization.slug)
    form = AddUserForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(error) for error in form.errors["user_principal_name"]))
        return _back_to_picker(request, service)
    upn = form.cleaned_data["user_principal_name"]
    if not _lookup_allowed(request):
        messages.error(request, TOO_MANY_LOOKUPS)
        return _back_to_picker(request, service)
    try:
        user = _picker_client(request).find_user_by_upn(upn)
        if user is None:
            messages.error(request, f"No user {upn} exists in your Microsoft 365 directory.")
        else:
            selection.add_selected_users(organization=request.organization, users=[user], actor=request.user)
            messages.success(request, f"{user.user_principal_name} will be synchronized.")
    except selection.SelectionError as exc:
        messages.error(request, str(exc))
    except errors.MicrosoftError as exc:
        messages.error(request, f"{upn} could not be looked up: {exc.message}")
    return _back_to_picker(request, service)


@organization_view
@require_POST
def selected_users_add_from_group(request: OrganizationRequest, service_kind: str) -> HttpResponse:
    service = scoped_get_or_404(request, ProtectedService, kind=service_kind)
    if not _picker_available(request, service):
        return redirect("service_status", org_slug=request.organization.slug)
    if not _lookup_allowed(request):
        messages.error(request, TOO_MANY_LOOKUPS)
        return _back_to_picker(request, service)
    try:
        members = {user.id: user for user in _group_users(request, request.POST.get("group", ""))}
    except GroupNotFound:
        messages.error(request, "That group does not exist in your directory.")
        return _back_to_picker(request, service)
    except errors.MicrosoftError as exc:
        messages.error(request, f"The group could not be read: {exc.message}")
        return _back_to_picker(request, service)
    form = AddFromGroupForm(request.POST, member_choices=[(user_id, user_id) for user_id in members])
    if not form.is_valid():
        messages.error(request, "Choose users from the group's members.")
        return _back_to_picker(request, service)
    chosen = [members[user_id] for user_id in form.cleaned_data["members"]]
    try:
        added = selection.add_selected_users(organization=request.organization, users=chosen, actor=request.user)
    except selection.SelectionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{len(added)} users added.")
    return _back_to_picker(request, service)


@organization_view
@require_POST
def selected_user_remove(request: OrganizationRequest, service_kind: str, selected_id: str) -> HttpResponse:
    service = scoped_get_or_404(request, ProtectedService, kind=service_kind)
    selected = scoped_get_or_404(request, SelectedUser, microsoft_id=selected_id)
    selection.remove_selected_user(selected=selected, actor=request.user)
    messages.success(request, f"{selected.user_principal_name} will no longer be synchronized.")
    return _back_to_picker(request, service)


@organization_view
@require_POST
def selected_users_start(request: OrganizationRequest, service_kind: str) -> HttpResponse:
    service = scoped_get_or_404(request, ProtectedService, kind=service_kind)
    try:
        access.start_selected_users_sync(service=service, actor=request.user)
    except selection.SelectionError as exc:
        messages.error(request, str(exc))
        return _back_to_picker(request, service)
    return redirect("sync_progress", org_slug=request.organization.slug, service_kind=service.kind)


@organization_view
@require_GET
def sync_progress(request: OrganizationRequest, service_kind: str) -> HttpResponse:
    service = scoped_get_or_404(request, ProtectedService, kind=service_kind)
    run = runs.latest_run(service.organization)
    account = scoped(request, ServiceAccount).filter(service=service).select_related("auto_enable_policy").first()
    policy = account.auto_enable_policy if account else None
    context = {
        "service": service,
        "run": run,
        "progress": describe_progress(run, policy.name if policy else None) if run else None,
        "success_sentence": SUCCESS_SENTENCE,
    }
    if request.headers.get("HX-Request"):
        return render(request, "directory/_progress.html", context)
    return render(request, "directory/progress.html", context)


@organization_view
@require_POST
def sync_now(request: OrganizationRequest) -> HttpResponse:
    try:
        result = runs.sync_now(organization=request.organization, actor=request.user)
    except runs.SyncRefused as exc:
        messages.error(request, str(exc))
    else:
        if result.folded:
            messages.info(request, "A synchronization is already running; your request is part of it.")
        else:
            messages.success(request, "Synchronization started.")
    return redirect("service_status", org_slug=request.organization.slug)


@organization_view
@require_http_methods(["GET", "POST"])
def extend_to_all_users(request: OrganizationRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "directory/extend_confirm.html")
    try:
        runs.extend_to_all_users(organization=request.organization, actor=request.user)
    except runs.SyncRefused as exc:
        messages.error(request, str(exc))
        return redirect("service_status", org_slug=request.organization.slug)
    messages.success(request, "All users and groups of your organization are now synchronized, for every service.")
    return redirect("sync_progress", org_slug=request.organization.slug, service_kind=ServiceKind.EXCHANGE_ONLINE)


DIRECTORY_PAGE_SIZE = 50


@organization_view
@require_GET
def directory_users(request: OrganizationRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:100]
    users = scoped(request, DirectoryUser)
    if query:
        users = users.filter(Q(user_principal_name__icontains=query) | Q(display_name__icontains=query))
    page = Paginator(users.order_by("user_principal_name", "pk"), DIRECTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "directory/directory_users.html", {"page": page, "query": query})


@organization_view
@require_GET
def directory_groups(request: OrganizationRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:100]
    groups = scoped(request, DirectoryGroup)
    if query:
        groups = groups.filter(display_name__icontains=query)
    page = Paginator(groups.order_by("display_name", "pk"), DIRECTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "directory/directory_groups.html", {"page": page, "query": query})


@organization_view
@require_GET
def directory_group(request: OrganizationRequest, group_id: str) -> HttpResponse:
    group = scoped_get_or_404(request, DirectoryGroup, microsoft_id=group_id)
    memberships = scoped(request, GroupMembership).filter(group_id=group.microsoft_id)
    users = (
        scoped(request, DirectoryUser)
        .filter(microsoft_id__in=memberships.filter(member_type=MemberType.USER).values("member_id"))
        .order_by("user_principal_name", "pk")
    )
    page = Paginator(users, DIRECTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    subgroups = (
        scoped(request, DirectoryGroup)
        .filter(microsoft_id__in=memberships.filter(member_type=MemberType.GROUP).values("member_id"))
        .order_by("display_name")[:DIRECTORY_PAGE_SIZE]
    )
    # Contacts, devices, service principals: Microsoft sends their type and id only, so that is what is shown.
    others = memberships.exclude(member_type__in=[MemberType.USER, MemberType.GROUP]).order_by(
        "member_type", "member_id"
    )
    return render(
        request,
        "directory/directory_group.html",
        {
            "group": group,
            "page": page,
            "subgroups": subgroups,
            "others": others[:DIRECTORY_PAGE_SIZE],
            "others_count": others.count(),
        },
    )


SYNC_HISTORY_SHOWN = 30


@organization_view
@require_GET
def sync_history(request: OrganizationRequest) -> HttpResponse:
    runs = list(scoped(request, SyncRun).select_related("service")[:SYNC_HISTORY_SHOWN])
    return render(request, "directory/sync_history.html", {"runs": runs, "chart": history_chart(runs)})
