"""The certain-users picker, a sync's progress, Sync now, Extend to all users, the Directory and Sync history."""

import uuid
from dataclasses import dataclass
from http import HTTPStatus
from itertools import islice
from typing import TypeVar
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.db.models import Count, Model, Q, QuerySet
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from casportal.ratelimit import allow
from connection.models import ServiceAccount
from directory import runs, selection
from directory.forms import (
    AddListedForm,
    AddUserForm,
    GroupFilterForm,
    GroupSearchForm,
    MemberFilterForm,
    UserFilterForm,
    UserSearchForm,
)
from directory.history import history_charts
from directory.models import (
    MAX_SELECTED_USERS,
    DirectoryGroup,
    DirectoryUser,
    GroupMembership,
    GroupType,
    MemberType,
    SelectedUser,
    SyncMode,
    SyncRun,
    SyncTrigger,
)
from directory.ordering import natural_key, naturally_sorted
from directory.progress import SUCCESS_SENTENCE, describe_progress
from grant import access, waiting
from microsoft import errors, graph
from organizations.models import ProtectedService, ServiceStatus
from organizations.scoping import OrganizationRequest, organization_view, scoped, scoped_get_or_404

M = TypeVar("M", bound=Model)

TOO_MANY_LOOKUPS = "Too many directory lookups in a minute; wait a moment and try again."


def _lookup_allowed(request: OrganizationRequest) -> bool:
    """Graph lookups from the picker are limited per organization."""
    return allow(f"user-picker:{request.organization.pk}", limit=settings.USER_PICKER_LOOKUPS_PER_MINUTE)


def _picker_client(request: OrganizationRequest) -> selection.DirectorySearch:
    assert request.organization.microsoft_tenant_id is not None
    return selection.DirectorySearch(str(request.organization.microsoft_tenant_id))


class GroupNotFound(Exception):
    pass


# The picker lists this many of a group's members at most, and this many results of a search.
GROUP_MEMBERS_SHOWN = 500
SEARCH_RESULTS_SHOWN = 25


@dataclass(frozen=True)
class GroupListing:
    group: selection.Listed
    members: list[selection.Listed]


def _group_users(request: OrganizationRequest, group_id: str) -> GroupListing:
    """A group and its users, in reading order."""
    try:
        uuid.UUID(group_id)
    except ValueError:
        raise GroupNotFound from None
    client = _picker_client(request)
    try:
        group = client.group(group_id)
        members = client.iter_group_members(group_id)
        # Users only: a group also holds contacts, devices and service principals, and every user has a user
        # principal name (an object listed without one is no user to choose).
        users = [
            selection.listed_user(member)
            for member in islice(members, GROUP_MEMBERS_SHOWN)
            if isinstance(member, graph.DirectoryUser) and member.user_principal_name
        ]
    except errors.GraphError as exc:
        if exc.status == HTTPStatus.NOT_FOUND:
            raise GroupNotFound from exc
        raise
    return GroupListing(group, naturally_sorted(users, lambda u: u.user_principal_name))


@organization_view
@require_GET
def selected_users(request: OrganizationRequest, service_kind: str) -> HttpResponse:
    service = scoped_get_or_404(request, ProtectedService, kind=service_kind)
    if not _picker_available(request, service):
        return redirect("service_status", org_slug=request.organization.slug)
    chosen = naturally_sorted(scoped(request, SelectedUser), lambda u: u.user_principal_name)
    chosen_ids = {str(row.microsoft_id) for row in chosen}
    group_search = GroupSearchForm(request.GET if "q" in request.GET else None)
    user_search = UserSearchForm(request.GET if "user_q" in request.GET else None)
    group_id = request.GET.get("group", "")
    found_groups = found_users = None
    listing = None
    status = 200
    if (group_search.is_bound and not group_search.is_valid()) or (user_search.is_bound and not user_search.is_valid()):
        status = 400
    elif group_search.is_bound or user_search.is_bound or group_id:
        if not _lookup_allowed(request):
            messages.error(request, TOO_MANY_LOOKUPS)
            status = 429
        else:
            client = _picker_client(request)
            try:
                if group_id:
                    listing = _group_users(request, group_id)
                elif user_search.is_bound:
                    found_users = client.find_users(user_search.cleaned_data["user_q"], limit=SEARCH_RESULTS_SHOWN)
                else:
                    found_groups = client.find_groups(group_search.cleaned_data["q"], limit=SEARCH_RESULTS_SHOWN)
            except GroupNotFound:
                messages.error(request, "That group does not exist in your directory.")
            except errors.MicrosoftError as exc:
                messages.error(request, f"The directory could not be searched: {exc.message}")
    remaining = MAX_SELECTED_USERS - len(chosen)
    addable = [user for user in listing.members if user.id not in chosen_ids] if listing else []
    return render(
        request,
        "directory/selected_users.html",
        {
            "service": service,
            "chosen": chosen,
            "chosen_ids": chosen_ids,
            "group_search": group_search,
            "user_search": user_search,
            "found_groups": found_groups,
            "found_users": found_users,
            "listing": listing,
            "addable_count": len(addable),
            "max_users": MAX_SELECTED_USERS,
            "remaining": remaining,
            "members_shown": GROUP_MEMBERS_SHOWN,
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


def _back_to_picker(request: OrganizationRequest, service: ProtectedService, **query: str) -> HttpResponse:
    url = reverse("selected_users", kwargs={"org_slug": request.organization.slug, "service_kind": service.kind})
    return redirect(f"{url}?{urlencode(query)}" if query else url)


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
            listed = selection.listed_user(user)
            selection.add_selected_users(organization=request.organization, users=[listed], actor=request.user)
            messages.success(request, f"{listed.user_principal_name} will be synchronized.")
    except selection.SelectionError as exc:
        messages.error(request, str(exc))
    except errors.MicrosoftError as exc:
        messages.error(request, f"{upn} could not be looked up: {exc.message}")
    return _back_to_picker(request, service)


def _add_listed(
    request: OrganizationRequest,
    service: ProtectedService,
    listed: list[selection.Listed],
    *,
    source: str,
    back: dict[str, str],
) -> HttpResponse:
    """Add the users chosen from `listed` (or all of them), as the form posted them; `source` names the listing."""
    by_id = {user.id: user for user in listed}
    form = AddListedForm(request.POST, member_choices=[(user_id, user_id) for user_id in by_id])
    if not form.is_valid():
        chose_none = not form.has_error("members")
        messages.error(request, "Choose at least one user." if chose_none else f"Choose users from {source}.")
        return _back_to_picker(request, service, **back)
    picked = list(by_id.values()) if form.cleaned_data["all"] else [by_id[i] for i in form.cleaned_data["members"]]
    try:
        added = selection.add_selected_users(organization=request.organization, users=picked, actor=request.user)
    except selection.SelectionError as exc:
        messages.error(request, str(exc))
        return _back_to_picker(request, service, **back)
    if added:
        names = ", ".join(row.user_principal_name for row in added)
        messages.success(request, f"{_users(len(added))} added. They will be synchronized: {names}.")
    else:
        messages.info(request, "Those users were already chosen.")
    return _back_to_picker(request, service, **back)


def _users(count: int) -> str:
    return f"{count:,} user" if count == 1 else f"{count:,} users"


@organization_view
@require_POST
def selected_users_add_from_group(request: OrganizationRequest, service_kind: str) -> HttpResponse:
    service = scoped_get_or_404(request, ProtectedService, kind=service_kind)
    if not _picker_available(request, service):
        return redirect("service_status", org_slug=request.organization.slug)
    if not _lookup_allowed(request):
        messages.error(request, TOO_MANY_LOOKUPS)
        return _back_to_picker(request, service)
    group_id = request.POST.get("group", "")
    try:
        listing = _group_users(request, group_id)
    except GroupNotFound:
        messages.error(request, "That group does not exist in your directory.")
        return _back_to_picker(request, service)
    except errors.MicrosoftError as exc:
        messages.error(request, f"The group could not be read: {exc.message}")
        return _back_to_picker(request, service)
    return _add_listed(
        request, service, listing.members, source="the group's members", back={"group": listing.group.id}
    )


@organization_view
@require_POST
def selected_users_add_found(request: OrganizationRequest, service_kind: str) -> HttpResponse:
    """Users chosen among a search's results: the search runs again, so only users Microsoft lists are added."""
    service = scoped_get_or_404(request, ProtectedService, kind=service_kind)
    if not _picker_available(request, service):
        return redirect("service_status", org_slug=request.organization.slug)
    search = UserSearchForm(request.POST)
    if not search.is_valid():
        messages.error(request, "Search for users by name or sign-in name first.")
        return _back_to_picker(request, service)
    text = search.cleaned_data["user_q"]
    if not _lookup_allowed(request):
        messages.error(request, TOO_MANY_LOOKUPS)
        return _back_to_picker(request, service, user_q=text)
    try:
        found = _picker_client(request).find_users(text, limit=SEARCH_RESULTS_SHOWN)
    except errors.MicrosoftError as exc:
        messages.error(request, f"The directory could not be searched: {exc.message}")
        return _back_to_picker(request, service, user_q=text)
    return _add_listed(request, service, found.items, source="the users found", back={"user_q": text})


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


def _progress_page(request: OrganizationRequest, service: ProtectedService | None, run: SyncRun | None) -> HttpResponse:
    account = (
        scoped(request, ServiceAccount).filter(service=service).select_related("auto_enable_policy").first()
        if service is not None
        else None
    )
    policy = account.auto_enable_policy if account else None
    service_name = service.get_kind_display() if service else "Directory"
    context = {
        "service": service,
        "run": run,
        "progress": describe_progress(
            run,
            service_name=service_name,
            policy_name=policy.name if policy else None,
            waited_for_access=waiting.time_waited_for_access(run)
            if run.trigger in (SyncTrigger.GRANT, SyncTrigger.RECREATE)
            else None,
        )
        if run
        else None,
        "success_sentence": SUCCESS_SENTENCE,
        "sync_mode": runs.sync_settings_for(request.organization).mode,
    }
    if request.headers.get("HX-Request"):
        return render(request, "directory/_progress.html", context)
    return render(request, "directory/progress.html", context)


@organization_view
@require_GET
def sync_progress(request: OrganizationRequest, service_kind: str) -> HttpResponse:
    """The latest run of the organization's directory, under a service (where a grant's first sync is watched)."""
    service = scoped_get_or_404(request, ProtectedService, kind=service_kind)
    return _progress_page(request, service, runs.latest_run(service.organization))


@organization_view
@require_GET
def sync_run_progress(request: OrganizationRequest, run_id: str) -> HttpResponse:
    """One run, whatever came after it (where Sync now and Extend to all users lead)."""
    run = scoped_get_or_404(request, SyncRun, public_id=run_id)
    return _progress_page(request, run.service, run)


@organization_view
@require_POST
def sync_now(request: OrganizationRequest) -> HttpResponse:
    try:
        result = runs.sync_now(organization=request.organization, actor=request.user)
    except runs.SyncRefused as exc:
        messages.error(request, str(exc))
        return redirect("service_status", org_slug=request.organization.slug)
    if result.folded:
        messages.info(request, "A synchronization is already running; your request is part of it.")
    else:
        messages.info(request, "Synchronization started.")
    return redirect("sync_run_progress", org_slug=request.organization.slug, run_id=result.run.public_id)


@organization_view
@require_http_methods(["GET", "POST"])
def extend_to_all_users(request: OrganizationRequest) -> HttpResponse:
    granted = [
        service.get_kind_display()
        for service in scoped(request, ProtectedService).exclude(status=ServiceStatus.NOT_GRANTED).order_by("kind")
    ]
    if request.method == "GET":
        return render(request, "directory/extend_confirm.html", {"granted": granted})
    try:
        result = runs.extend_to_all_users(organization=request.organization, actor=request.user)
    except runs.SyncRefused as exc:
        messages.error(request, str(exc))
        return redirect("service_status", org_slug=request.organization.slug)
    messages.success(
        request, f"All users and groups of your organization are now synchronized, for {', '.join(granted)}."
    )
    return redirect("sync_run_progress", org_slug=request.organization.slug, run_id=result.run.public_id)


DIRECTORY_PAGE_SIZE = 50


def _natural_page(request: OrganizationRequest, rows: QuerySet[M], *names: str) -> Page:
    """A page of `rows` in reading order of `names` ("Training 7, 9, 18"), which SQL does not sort by: the page's
    ids are picked from all ids and names, then only that page's rows are loaded."""
    named = sorted(rows.values_list("pk", *names), key=lambda row: tuple(natural_key(name or "") for name in row[1:]))
    page = Paginator([row[0] for row in named], DIRECTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    loaded = rows.in_bulk(list(page.object_list))
    page.object_list = [loaded[pk] for pk in page.object_list]
    return page


def _filter_users(rows: QuerySet[DirectoryUser], form: UserFilterForm) -> QuerySet[DirectoryUser]:
    """The users the form asks for; none of its filters when it is not valid (the page says why)."""
    if not form.is_valid():
        return rows
    query, account, license = (form.cleaned_data[name] for name in ("q", "account", "license"))
    if query:
        rows = rows.filter(Q(user_principal_name__icontains=query) | Q(display_name__icontains=query))
    if account:
        rows = rows.filter(account_enabled=account == "enabled")
    if license:
        rows = rows.filter(is_licensed=license == "licensed")
    return rows


def _filtered(form: forms.Form) -> bool:
    return form.is_valid() and any(form.cleaned_data.values())


@organization_view
@require_GET
def directory_users(request: OrganizationRequest) -> HttpResponse:
    form = UserFilterForm(request.GET)
    everyone = scoped(request, DirectoryUser)
    page = _natural_page(request, _filter_users(everyone, form), "user_principal_name")
    return render(
        request,
        "directory/directory_users.html",
        {
            "form": form,
            "page": page,
            "any_normalized": any(user.normalized for user in page.object_list),
            "total": everyone.count(),
            "filtered": _filtered(form),
        },
        status=200 if form.is_valid() else 400,
    )


@organization_view
@require_GET
def directory_groups(request: OrganizationRequest) -> HttpResponse:
    form = GroupFilterForm(request.GET, group_types=GroupType.choices)
    every_group = scoped(request, DirectoryGroup)
    groups = every_group
    if form.is_valid():
        if form.cleaned_data["q"]:
            groups = groups.filter(display_name__icontains=form.cleaned_data["q"])
        if form.cleaned_data["type"]:
            groups = groups.filter(group_type=form.cleaned_data["type"])
    page = _natural_page(request, groups, "display_name")
    sizes = dict(
        scoped(request, GroupMembership)
        .filter(group_id__in=[group.microsoft_id for group in page.object_list])
        .values_list("group_id")
        .annotate(members=Count("pk"))
    )
    for group in page.object_list:
        group.member_count = sizes.get(group.microsoft_id, 0)
    return render(
        request,
        "directory/directory_groups.html",
        {
            "form": form,
            "page": page,
            "any_normalized": any(group.normalized for group in page.object_list),
            "total": every_group.count(),
            "filtered": _filtered(form),
        },
        status=200 if form.is_valid() else 400,
    )


def _member_type_label(member_type: str) -> str:
    return GroupMembership(member_type=member_type).member_type_label


@organization_view
@require_GET
def directory_group(request: OrganizationRequest, group_id: str) -> HttpResponse:
    group = scoped_get_or_404(request, DirectoryGroup, microsoft_id=group_id)
    memberships = scoped(request, GroupMembership).filter(group_id=group.microsoft_id)
    counts = dict(memberships.values_list("member_type").annotate(members=Count("pk")).order_by("member_type"))
    # Users first, then groups, then the other types as Microsoft named them.
    order = [MemberType.USER, MemberType.GROUP, *sorted(set(counts) - {MemberType.USER, MemberType.GROUP})]
    types = [(kind, _member_type_label(kind), counts[kind]) for kind in order if kind in counts]
    form = MemberFilterForm(request.GET, member_types=[(kind, label) for kind, label, _ in types])
    shown = form.cleaned_data["type"] if form.is_valid() else ""
    users = _filter_users(
        scoped(request, DirectoryUser).filter(
            microsoft_id__in=memberships.filter(member_type=MemberType.USER).values("member_id")
        ),
        form,
    )
    subgroups = scoped(request, DirectoryGroup).filter(
        microsoft_id__in=memberships.filter(member_type=MemberType.GROUP).values("member_id")
    )
    # Contacts, devices, service principals: Microsoft sends their type and id only, so that is what is shown.
    others = memberships.exclude(member_type__in=[MemberType.USER, MemberType.GROUP]).order_by(
        "member_type", "member_id"
    )
    if shown not in ("", MemberType.USER, MemberType.GROUP):
        others = others.filter(member_type=shown)
    page = _natural_page(request, users, "user_principal_name") if shown in ("", MemberType.USER) else None
    subgroups_shown = (
        naturally_sorted(subgroups, lambda sub: sub.display_name)[:DIRECTORY_PAGE_SIZE]
        if shown in ("", MemberType.GROUP)
        else []
    )
    return render(
        request,
        "directory/directory_group.html",
        {
            "group": group,
            "form": form,
            "types": types,
            "member_total": sum(counts.values()),
            "page": page,
            "any_normalized": any(row.normalized for row in [*(page.object_list if page else []), *subgroups_shown]),
            "user_filtered": form.is_valid() and any(form.cleaned_data[name] for name in ("q", "account", "license")),
            "subgroups": subgroups_shown,
            "others": others[:DIRECTORY_PAGE_SIZE] if shown not in (MemberType.USER, MemberType.GROUP) else [],
            "others_count": others.count(),
        },
        status=200 if form.is_valid() else 400,
    )


SYNC_HISTORY_SHOWN = 30


@organization_view
@require_GET
def sync_history(request: OrganizationRequest) -> HttpResponse:
    runs = list(scoped(request, SyncRun).select_related("service")[:SYNC_HISTORY_SHOWN])
    return render(request, "directory/sync_history.html", {"runs": runs, "charts": history_charts(runs)})
