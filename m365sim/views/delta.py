"""Microsoft Graph delta queries for users and groups.

https://learn.microsoft.com/graph/delta-query-users, https://learn.microsoft.com/graph/delta-query-groups
"""

import datetime as dt
import re
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlencode

from django.core import signing
from django.http import HttpRequest, JsonResponse
from django.utils import timezone

from m365sim import directory
from m365sim.models import Group, Membership, User
from m365sim.views.graph import (
    GROUP_DEFAULT,
    MAX_TOP,
    ODATA_SAFE,
    USER_DEFAULT,
    _check_page_token_age,
    _relative_path,
    _select,
    _shape,
    group_json,
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


def _delta_page_size(request: HttpRequest) -> int:
    match = re.search(r"odata\.maxpagesize=(\d+)", request.headers.get("Prefer", ""))
    return max(1, min(int(match.group(1)), MAX_TOP)) if match else DELTA_DEFAULT_PAGE


def _delta_state(request: HttpRequest, caller: Caller, kind: str, select: list[str]) -> dict[str, Any]:
    raw = request.GET.get("$deltatoken") or request.GET.get("$skiptoken")
    if raw is None:
        return {"k": kind, "s": None, "w": caller.tenant.change_seq, "a": None, "sel": select, "i": time.time()}
    if raw == "latest" and "$deltatoken" in request.GET:
        return {
            "k": kind,
            "s": caller.tenant.change_seq,
            "w": caller.tenant.change_seq,
            "a": None,
            "sel": select,
            "i": time.time(),
            "latest": True,
        }
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
        _check_page_token_age(float(state.get("p", 0)))
    if timezone.now() - issued > DELTA_TOKEN_LIFETIME or (valid_after and issued <= valid_after):
        raise expired
    if "$deltatoken" in request.GET:  # a new round: changes after the last one, up to now
        state = {**state, "s": state["w"], "w": caller.tenant.change_seq, "a": None, "i": time.time()}
    return state


def _delta(
    request: HttpRequest,
    caller: Caller,
    *,
    kind: str,
    model: type[User] | type[Group],
    serialize: Callable[[list[Any], dict[str, Any]], list[dict[str, Any]]],
    default: list[str],
    available: Iterable[str],
) -> JsonResponse:
    if "$top" in request.GET:
        raise bad_request("The $top query parameter is not supported with delta; use Prefer: odata.maxpagesize.")
    state = _delta_state(request, caller, kind, _select(request, kind, default, available))
    state["t"] = str(caller.tenant.id)
    size = _delta_page_size(request)
    queryset = model._default_manager.filter(tenant=caller.tenant)
    if state["s"] is None:
        queryset = queryset.filter(deleted_at__isnull=True)
    else:
        queryset = queryset.filter(version__gt=state["s"], version__lte=state["w"])
    if state["a"]:
        queryset = queryset.filter(id__gt=state["a"])
    chunk = [] if state.get("latest") else list(queryset.order_by("id")[: size + 1])
    body: dict[str, Any] = {"@odata.context": f"{directory.GRAPH_PUBLIC_BASE}/$metadata#{kind}s"}
    body["value"] = serialize(chunk[:size], state)
    # The links repeat the function's name as the client spelled it: delta, delta() or microsoft.graph.delta().
    base = f"{directory.GRAPH_PUBLIC_BASE}/{_relative_path(request)}"
    if len(chunk) > size:
        token = signing.dumps({**state, "a": str(chunk[size - 1].id), "p": time.time()}, salt="m365sim.delta")
        body["@odata.nextLink"] = f"{base}?{urlencode({'$skiptoken': token}, safe=ODATA_SAFE)}"
    else:
        token = signing.dumps({**state, "a": None, "i": time.time(), "latest": False}, salt="m365sim.delta")
        body["@odata.deltaLink"] = f"{base}?{urlencode({'$deltatoken': token}, safe=ODATA_SAFE)}"
    response = JsonResponse(body)
    if "odata.maxpagesize" in request.headers.get("Prefer", ""):
        response["Preference-Applied"] = f"odata.maxpagesize={size}"
    return response


def _removed(obj: User | Group) -> dict[str, Any] | None:
    if obj.deleted_at is None:
        return None
    # "changed": soft-deleted, restorable; "deleted": gone for good.
    return {"id": str(obj.id), "@removed": {"reason": "deleted" if obj.hard_deleted else "changed"}}


def _users_delta_json(users: list[User], state: dict[str, Any]) -> list[dict[str, Any]]:
    return [_removed(user) or _shape(user_json(user), state["sel"]) for user in users]


def _groups_delta_json(groups: list[Group], state: dict[str, Any]) -> list[dict[str, Any]]:
    fields = [f for f in state["sel"] if f != "members"]
    members: dict[Any, list[dict[str, Any]]] = {group.id: [] for group in groups}
    if "members" in state["sel"]:
        # One query for the page's memberships (not one per group).
        memberships = Membership.objects.filter(group__in=groups)
        if state["s"] is None:
            memberships = memberships.filter(removed=False)
        else:
            memberships = memberships.filter(version__gt=state["s"], version__lte=state["w"])
        for group_id, user_id, subgroup_id, removed in memberships.values_list(
            "group_id", "member_user_id", "member_group_id", "removed"
        ):
            entry: dict[str, Any] = {
                "@odata.type": "#microsoft.graph.user" if user_id else "#microsoft.graph.group",
                "id": str(user_id or subgroup_id),
            }
            if removed:
                entry["@removed"] = {"reason": "deleted"}
            members[group_id].append(entry)
    page = []
    for group in groups:
        removed_group = _removed(group)
        if removed_group:
            page.append(removed_group)
            continue
        data = _shape(group_json(group), fields)
        if "members" in state["sel"]:
            data["members@delta"] = members[group.id]
        page.append(data)
    return page


@graph_endpoint("users.delta", app=USER_READ, delegated=DELEGATED_DIRECTORY)
def users_delta(request: HttpRequest, caller: Caller) -> JsonResponse:
    return _delta(
        request,
        caller,
        kind="user",
        model=User,
        serialize=_users_delta_json,
        default=USER_DEFAULT,
        available=user_json(User()),
    )


@graph_endpoint("groups.delta", app=GROUP_READ, delegated=DELEGATED_DIRECTORY)
def groups_delta(request: HttpRequest, caller: Caller) -> JsonResponse:
    return _delta(
        request,
        caller,
        kind="group",
        model=Group,
        serialize=_groups_delta_json,
        default=GROUP_DEFAULT,
        available=[*group_json(Group()), "members"],
    )
