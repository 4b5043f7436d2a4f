"""Microsoft Graph delta queries for users and groups.

https://learn.microsoft.com/graph/delta-query-overview, https://learn.microsoft.com/graph/delta-query-users,
https://learn.microsoft.com/graph/delta-query-groups
"""

import datetime as dt
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.db.models import Q, QuerySet
from django.http import HttpRequest, JsonResponse
from django.utils import timezone

from m365sim import directory, services
from m365sim.models import Group, Membership, Tenant, User
from m365sim.views.graph import (
    GROUP_DEFAULT,
    MAX_TOP,
    ODATA_SAFE,
    USER_DEFAULT,
    _relative_path,
    _select,
    _shape,
    check_page_token_age,
    group_json,
    odata_type,
    user_json,
)
from m365sim.views.graph_request import (
    DELEGATED_DIRECTORY,
    GROUP_READ,
    USER_READ,
    Caller,
    GraphProblem,
    bad_request,
    graph_endpoint,
)

DELTA_DEFAULT_PAGE = 100
DELTA_TOKEN_LIFETIME = dt.timedelta(days=7)  # identity resources: seven days (Microsoft 365 dev blog, 2020-07-03)
# "Deleted items remain available to restore for up to 30 days": directory resource type,
# https://learn.microsoft.com/graph/api/resources/directory
DELETED_ITEMS_RETENTION = dt.timedelta(days=30)


# Page caps. Microsoft documents none; "200 for objects, such as users and contacts; 500 for directory link
# objects (group members)", "the same number is returned if odata.maxpagesize is not set", and "even if a higher
# value is specified, the API will cap the page size to these limits" (a Microsoft moderator on Microsoft Q&A:
# https://learn.microsoft.com/answers/questions/2276060/contact-delta-api-what-limit-can-we-user-for-odata).


def users_page_cap(tenant: Tenant) -> int:
    return tenant.users_delta_page_cap or settings.M365SIM_USERS_DELTA_PAGE_CAP


def members_page_cap(tenant: Tenant) -> int:
    return tenant.members_delta_page_cap or settings.M365SIM_MEMBERS_DELTA_PAGE_CAP


def _requested_page_size(request: HttpRequest) -> int | None:
    # Prefer: odata.maxpagesize is a request, never a promise: https://learn.microsoft.com/graph/paging
    match = re.search(r"odata\.maxpagesize=(\d+)", request.headers.get("Prefer", ""))
    return max(1, int(match.group(1))) if match else None


@dataclass(frozen=True)
class Cursor:
    """Where a page begins: after the object `after`, or, when `member` is set, inside the object `after`
    (a group whose members@delta did not fit on the last page), after the membership `member`."""

    after: str | None = None
    member: int | None = None

    def dump(self) -> list[Any]:
        return [self.after, self.member]

    @classmethod
    def load(cls, value: list[Any] | None) -> "Cursor":
        return cls(*value) if value else cls()


def _delta_state(request: HttpRequest, caller: Caller, kind: str, select: list[str]) -> dict[str, Any]:
    """The round a request belongs to: "s" the change number it reports after (None: an initial round), "w" the
    change number it reports up to, "c" where its page begins, "r" where the page before began (for replays)."""
    raw = request.GET.get("$deltatoken") or request.GET.get("$skiptoken")
    fresh = {"k": kind, "s": None, "w": caller.tenant.change_seq, "c": None, "sel": select, "i": time.time()}
    if raw is None:  # an empty $deltatoken, as a synchronization reset's Location has it, starts a round too
        return fresh
    if raw == "latest" and "$deltatoken" in request.GET:
        return {**fresh, "s": caller.tenant.change_seq, "latest": True}
    expired = GraphProblem(
        400,
        "syncStateNotFound",
        "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
    )
    try:
        state: dict[str, Any] = signing.loads(raw, salt="m365sim.delta")
    except signing.BadSignature:
        raise expired from None
    issued = dt.datetime.fromtimestamp(state["i"], tz=dt.UTC)
    valid_after = caller.tenant.delta_tokens_valid_after
    if state.get("k") != kind or state.get("t") != str(caller.tenant.id):
        raise expired
    if "$skiptoken" in request.GET:  # a page token within a round, not the round's delta token
        check_page_token_age(caller.tenant, float(state.get("p", 0)))
    if timezone.now() - issued > DELTA_TOKEN_LIFETIME or (valid_after and issued <= valid_after):
        raise expired
    if "$deltatoken" in request.GET:  # a new round: changes after the last one, up to now
        state = {**state, "s": state["w"], "w": caller.tenant.change_seq, "c": None, "r": None, "i": time.time()}
    return state


def _reset(request: HttpRequest, state: dict[str, Any]) -> GraphProblem:
    """410 Gone with a Location holding the initial request with an empty $deltatoken: "an indication that the
    application must restart with a full synchronization". Use delta query, Synchronization reset:
    https://learn.microsoft.com/graph/delta-query-overview#synchronization-reset
    """
    query = urlencode({"$select": ",".join(state["sel"]), "$deltatoken": ""}, safe=ODATA_SAFE + ",")
    return GraphProblem(
        410,
        "resyncRequired",
        "The delta token is no longer valid, and the application must reset the sync state.",
        headers={"Location": f"{directory.GRAPH_PUBLIC_BASE}/{_relative_path(request)}?{query}"},
    )


@dataclass
class DeltaPage:
    value: list[dict[str, Any]]
    next_cursor: Cursor | None  # None: the round's last page


Serialize = Callable[[Caller, dict[str, Any], Cursor, int], DeltaPage]


def _delta(
    request: HttpRequest,
    caller: Caller,
    *,
    kind: str,
    serialize: Serialize,
    default: list[str],
    available: Iterable[str],
    page_cap: int,
    default_page: int,
) -> JsonResponse:
    if "$top" in request.GET:
        raise bad_request("The $top query parameter is not supported with delta; use Prefer: odata.maxpagesize.")
    state = _delta_state(request, caller, kind, _select(request, kind, default, available))
    state["t"] = str(caller.tenant.id)
    if ("$skiptoken" in request.GET or request.GET.get("$deltatoken")) and services.take_delta_reset(caller.tenant):
        raise _reset(request, state)
    cursor = Cursor.load(state.get("c"))
    # "Your application must be prepared for replays, which occur when the same change appears in subsequent
    # responses": the page begins where the one before it began. Use delta query, Replays:
    # https://learn.microsoft.com/graph/delta-query-overview#replays
    if "$skiptoken" in request.GET and services.take_delta_replay(caller.tenant):
        cursor = Cursor.load(state.get("r"))
    requested = _requested_page_size(request)
    size = min(requested or default_page, page_cap)
    minimal = _returns_minimal(request)
    page = DeltaPage([], None) if state.get("latest") else serialize(caller, {**state, "min": minimal}, cursor, size)
    body: dict[str, Any] = {"@odata.context": f"{directory.GRAPH_PUBLIC_BASE}/$metadata#{kind}s", "value": page.value}
    # The links repeat the function's name as the client spelled it: delta, delta() or microsoft.graph.delta().
    base = f"{directory.GRAPH_PUBLIC_BASE}/{_relative_path(request)}"
    if page.next_cursor is not None:
        link = {**state, "c": page.next_cursor.dump(), "r": cursor.dump(), "p": time.time()}
        token = signing.dumps(link, salt="m365sim.delta")
        body["@odata.nextLink"] = f"{base}?{urlencode({'$skiptoken': token}, safe=ODATA_SAFE)}"
    else:
        link = {**state, "c": None, "r": None, "i": time.time(), "latest": False}
        token = signing.dumps(link, salt="m365sim.delta")
        body["@odata.deltaLink"] = f"{base}?{urlencode({'$deltatoken': token}, safe=ODATA_SAFE)}"
    response = JsonResponse(body)
    applied = []
    if requested is not None:
        # The size the page was given, which the cap may have made smaller than the one asked for.
        applied.append(f"odata.maxpagesize={size}")
    if minimal:
        applied.append("return=minimal")
    if applied:
        response["Preference-Applied"] = ", ".join(applied)
    return response


def _returns_minimal(request: HttpRequest) -> bool:
    """`Prefer: return=minimal`: "only return the object properties that have changed since the last round" (a
    property set to null included), the others left out. user: delta, Request headers:
    https://learn.microsoft.com/graph/api/user-delta, and Use delta query, Optional request header:
    https://learn.microsoft.com/graph/delta-query-overview"""
    return any(part.strip() == "return=minimal" for part in request.headers.get("Prefer", "").split(","))


def _fields(obj: User | Group, fields: list[str], state: dict[str, Any]) -> list[str]:
    """The properties a delta entry carries: all those selected, or with return=minimal in a later round only
    those changed since the round before (an object created since then has all of them changed)."""
    if not state.get("min") or state["s"] is None:
        return fields
    return [f for f in fields if f == "id" or obj.property_versions.get(f, 0) > state["s"]]


def _round_objects(queryset: QuerySet[Any], state: dict[str, Any]) -> QuerySet[Any]:
    if state["s"] is not None:
        return queryset.filter(version__gt=state["s"], version__lte=state["w"])
    # "The @removed object can be returned in the initial delta query response": the objects deleted recently
    # that can still be restored come with it. Use delta query, Resource representation in the delta query response:
    # https://learn.microsoft.com/graph/delta-query-overview
    recently = timezone.now() - DELETED_ITEMS_RETENTION
    return queryset.filter(Q(deleted_at__isnull=True) | Q(hard_deleted=False, deleted_at__gte=recently))


def _after(queryset: QuerySet[Any], cursor: Cursor) -> QuerySet[Any]:
    if cursor.after is None:
        return queryset
    return queryset.filter(id__gte=cursor.after) if cursor.member is not None else queryset.filter(id__gt=cursor.after)


def _removed(obj: User | Group) -> dict[str, Any] | None:
    if obj.deleted_at is None:
        return None
    # "changed": soft-deleted, restorable; "deleted": gone for good.
    return {"id": str(obj.id), "@removed": {"reason": "deleted" if obj.hard_deleted else "changed"}}


def _users_delta_page(caller: Caller, state: dict[str, Any], cursor: Cursor, size: int) -> DeltaPage:
    users = _round_objects(User.objects.filter(tenant=caller.tenant), state)
    chunk = list(_after(users, cursor).order_by("id")[: size + 1])
    value = [_removed(user) or _shape(user_json(user), _fields(user, state["sel"], state)) for user in chunk[:size]]
    return DeltaPage(value, Cursor(str(chunk[size - 1].id)) if len(chunk) > size else None)


@dataclass(frozen=True)
class Entry:
    """One members@delta entry: the membership it comes from, and its JSON."""

    membership: int
    group: Any
    json: dict[str, Any]


def _member_entries(groups: list[Group], state: dict[str, Any], cursor: Cursor, limit: int) -> list[Entry]:
    """The first `limit` members@delta entries of these groups, in page order (group, then membership). Plain
    rows, not model instances: a page of a large tenant reads hundreds of them."""
    memberships = Membership.objects.filter(group__in=groups)
    if state["s"] is None:
        memberships = memberships.filter(removed=False)
    else:
        memberships = memberships.filter(version__gt=state["s"], version__lte=state["w"])
    if cursor.after is not None and cursor.member is not None:
        memberships = memberships.exclude(group_id=cursor.after, pk__lte=cursor.member)
    rows = memberships.order_by("group_id", "pk").values_list(
        "pk", "group_id", "member_user_id", "member_group_id", "member_object_id", "member_object__kind", "removed"
    )
    entries = []
    for pk, group_id, user_id, subgroup_id, object_id, object_kind, removed in rows[:limit]:
        kind = "user" if user_id else "group" if subgroup_id else object_kind
        entry: dict[str, Any] = {
            "@odata.type": odata_type(kind),
            "id": str(user_id or subgroup_id or object_id),
        }
        if removed:
            entry["@removed"] = {"reason": "deleted"}
        entries.append(Entry(pk, group_id, entry))
    return entries


def _groups_delta_page(caller: Caller, state: dict[str, Any], cursor: Cursor, size: int) -> DeltaPage:
    """Up to `size` groups and at most the tenant's cap of members@delta entries, counted across the page. A group
    whose members do not fit continues on the next page, its properties repeated with the rest of its members.
    Get incremental changes for groups, Paging through members in a large group:
    https://learn.microsoft.com/graph/delta-query-groups#paging-through-members-in-a-large-group
    """
    groups = _round_objects(Group.objects.filter(tenant=caller.tenant), state)
    chunk = list(_after(groups, cursor).order_by("id")[: size + 1])
    fields = [f for f in state["sel"] if f != "members"]
    cap = members_page_cap(caller.tenant)
    entries: dict[Any, list[Entry]] = {group.id: [] for group in chunk[:size]}
    if "members" in state["sel"]:
        # One query for the page's entries, one past the cap: it tells a group that does not fit.
        for entry in _member_entries(chunk[:size], state, cursor, cap + 1):
            entries[entry.group].append(entry)
    value: list[dict[str, Any]] = []
    room = cap
    for group in chunk[:size]:
        removed = _removed(group)
        if removed:
            value.append(removed)
            continue
        mine = entries[group.id]
        if mine and room == 0:  # the page is full: this group begins the next one
            return DeltaPage(value, Cursor(value[-1]["id"]))
        data = _shape(group_json(group), _fields(group, fields, state))
        # A group without members (initial round) or without membership changes carries no members@delta at all.
        if mine:
            data["members@delta"] = [entry.json for entry in mine[:room]]
        value.append(data)
        if len(mine) > room:
            return DeltaPage(value, Cursor(str(group.id), mine[room - 1].membership))
        room -= len(mine)
    return DeltaPage(value, Cursor(str(chunk[size - 1].id)) if len(chunk) > size else None)


@graph_endpoint("users.delta", app=USER_READ, delegated=DELEGATED_DIRECTORY)
def users_delta(request: HttpRequest, caller: Caller) -> JsonResponse:
    cap = users_page_cap(caller.tenant)
    return _delta(
        request,
        caller,
        kind="user",
        serialize=_users_delta_page,
        default=USER_DEFAULT,
        available=user_json(User()),
        page_cap=cap,
        default_page=cap,
    )


@graph_endpoint("groups.delta", app=GROUP_READ, delegated=DELEGATED_DIRECTORY)
def groups_delta(request: HttpRequest, caller: Caller) -> JsonResponse:
    return _delta(
        request,
        caller,
        kind="group",
        serialize=_groups_delta_page,
        default=GROUP_DEFAULT,
        available=[*group_json(Group()), "members"],
        page_cap=MAX_TOP,
        default_page=DELTA_DEFAULT_PAGE,
    )
