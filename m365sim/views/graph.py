"""Microsoft Graph v1.0: the directory reads the portal makes.

https://learn.microsoft.com/graph/api/user-list, group-list, group-list-members, user-delta, group-delta,
directoryrole-list, directoryrole-list-members
"""

import datetime as dt
import functools
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from m365sim import directory, services, tokens
from m365sim.models import Group, Membership, ServicePrincipal, Tenant, User
from m365sim.views.common import graph_error

ODATA_SAFE = "$',()"  # Graph's links keep $skiptoken, $filter's quotes and parentheses readable
DEFAULT_TOP = 100
MAX_TOP = 999
# Graph's JSON answers, as its documented responses show them (OData JSON Format 4.0, section 4.1 "Header
# Content-Type": https://docs.oasis-open.org/odata/odata-json-format/v4.0/odata-json-format-v4.0.html).
ODATA_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
DELTA_DEFAULT_PAGE = 100
DELTA_TOKEN_LIFETIME = dt.timedelta(days=7)  # identity resources: seven days (Microsoft 365 dev blog, 2020-07-03)

USER_READ = ("User.Read.All", "User.ReadWrite.All", "Directory.Read.All")
GROUP_READ = ("GroupMember.Read.All", "Group.Read.All", "Directory.Read.All")
ORG_READ = ("Organization.Read.All", "Directory.Read.All")
ROLE_READ = ("RoleManagement.Read.Directory", "Directory.Read.All")
DELEGATED_DIRECTORY = ("User.Read.All", "User.ReadBasic.All", "Directory.Read.All")


class GraphProblem(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def bad_request(message: str, code: str = "Request_BadRequest") -> GraphProblem:
    return GraphProblem(400, code, message)


def not_found(identifier: str) -> GraphProblem:
    return GraphProblem(
        404,
        "Request_ResourceNotFound",
        f"Resource '{identifier}' does not exist or one of its queried reference-property objects are not present.",
    )


@dataclass
class Caller:
    tenant: Tenant
    claims: dict[str, Any]
    user: User | None  # None for an app-only token


def graph_endpoint(name: str, *, app: Sequence[str], delegated: Sequence[str]) -> Callable[..., Any]:
    """Authenticates the bearer token, applies the tenant's faults, checks permissions, adds Graph's headers."""

    def decorator(view: Callable[..., dict[str, Any] | HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        @require_GET
        def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            request_id = str(uuid.uuid4())
            client_request_id = request.headers.get("client-request-id", request_id)
            try:
                caller = _authenticate(request, name)
                _check_permission(caller, app, delegated)
                result = view(request, caller, **kwargs)
                response = result if isinstance(result, HttpResponse) else JsonResponse(result)
                response["Content-Type"] = ODATA_JSON
                response["OData-Version"] = "4.0"
                if caller.tenant.throttle_fraction:
                    # A busy tenant: past 0.8 of its budget Graph says how much is spent (0.8 to 1.8).
                    # https://learn.microsoft.com/graph/throttling-limits
                    response["x-ms-throttle-limit-percentage"] = "0.9"
            except GraphProblem as problem:
                response = graph_error(
                    problem.status,
                    problem.code,
                    problem.message,
                    request_id=request_id,
                    client_request_id=client_request_id,
                    headers=problem.headers,
                )
            response["request-id"] = request_id
            response["client-request-id"] = client_request_id
            return response

        return wrapper

    return decorator


def _authenticate(request: HttpRequest, endpoint: str) -> Caller:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or not header[7:].strip():
        raise GraphProblem(401, "InvalidAuthenticationToken", "Access token is empty.")
    claims = tokens.decode_jwt(header[7:].strip())
    if claims is None or claims.get("aud") != directory.GRAPH_AUDIENCE:
        raise GraphProblem(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
    if claims.get("exp", 0) < time.time():
        raise GraphProblem(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
    tenant = Tenant.objects.filter(pk=str(claims.get("tid", ""))).first()
    if tenant is None:
        raise GraphProblem(401, "InvalidAuthenticationToken", "Access token validation failure.")
    services.count_request(tenant, endpoint)
    if tenant.latency_ms:
        time.sleep(tenant.latency_ms / 1000)
    if services.take_throttle(tenant):
        # https://learn.microsoft.com/graph/throttling
        status = tenant.throttle_status
        code, message = (
            ("TooManyRequests", "Too many requests.")
            if status == HTTPStatus.TOO_MANY_REQUESTS
            else ("serviceNotAvailable", "Service unavailable.")
        )
        raise GraphProblem(status, code, message, {"Retry-After": str(tenant.throttle_retry_after)})
    user = None
    if claims.get("idtyp") == "user":
        user = User.objects.filter(pk=str(claims.get("oid", "")), tenant=tenant, deleted_at__isnull=True).first()
        if user is None or not user.account_enabled:
            raise GraphProblem(401, "InvalidAuthenticationToken", "Access token validation failure.")
    return Caller(tenant=tenant, claims=claims, user=user)


def _check_permission(caller: Caller, app: Sequence[str], delegated: Sequence[str]) -> None:
    if caller.user is not None:
        granted = set(caller.claims.get("scp", "").split())
        allowed = delegated
    elif not app:
        raise bad_request("/me request is only valid with delegated authentication flow.")
    else:
        # Revocation takes effect at once, as Continuous Access Evaluation would, not at token expiry.
        sp = ServicePrincipal.objects.filter(
            tenant=caller.tenant, application_id=str(caller.claims.get("appid", ""))
        ).first()
        if sp is None or not sp.account_enabled:
            raise GraphProblem(401, "InvalidAuthenticationToken", "Access token validation failure.")
        granted = set(caller.claims.get("roles", [])) & set(sp.granted_roles)
        allowed = app
    if not granted & set(allowed):
        raise GraphProblem(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")


# Serialization.

USER_DEFAULT = [
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
]
GROUP_DEFAULT = [
    "id",
    "createdDateTime",
    "description",
    "displayName",
    "groupTypes",
    "mail",
    "mailEnabled",
    "mailNickname",
    "securityEnabled",
    "visibility",
]


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "businessPhones": [],
        "displayName": user.display_name,
        "givenName": user.given_name or None,
        "surname": user.surname or None,
        "jobTitle": user.job_title or None,
        "mail": user.mail or None,
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": None,
        "userPrincipalName": user.user_principal_name,
        "accountEnabled": user.account_enabled,
        "assignedLicenses": [{"disabledPlans": [], "skuId": sku} for sku in user.assigned_licenses],
        "createdDateTime": _iso(user.created_at),
    }


def group_json(group: Group) -> dict[str, Any]:
    return {
        "id": str(group.id),
        "createdDateTime": _iso(group.created_at),
        "description": group.description or None,
        "displayName": group.display_name,
        "groupTypes": group.group_types,
        "mail": group.mail or None,
        "mailEnabled": group.mail_enabled,
        "mailNickname": group.mail_nickname,
        "securityEnabled": group.security_enabled,
        "visibility": "Private" if "Unified" in group.group_types else None,
    }


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _select(request: HttpRequest, kind: str, default: list[str], available: Iterable[str]) -> list[str]:
    raw = request.GET.get("$select")
    if not raw:
        return default
    fields = [f.strip() for f in raw.split(",") if f.strip()]
    for field in fields:
        if field not in available:
            raise bad_request(f"Could not find a property named '{field}' on type 'microsoft.graph.{kind}'.")
    return fields if "id" in fields else [*fields, "id"]


def _shape(data: dict[str, Any], fields: list[str], odata_type: str | None = None) -> dict[str, Any]:
    shaped = {field: data[field] for field in fields if field in data}
    return {"@odata.type": odata_type, **shaped} if odata_type else shaped


def _member_fields(request: HttpRequest) -> list[str] | None:
    """$select on a mixed collection (users and groups): each object keeps what it has of those properties."""
    raw = request.GET.get("$select")
    if not raw:
        return None
    fields = [f.strip() for f in raw.split(",") if f.strip()]
    return fields if "id" in fields else [*fields, "id"]


def _member_json(obj: User | Group, fields: list[str] | None = None) -> dict[str, Any]:
    if isinstance(obj, User):
        return _shape(user_json(obj), fields or USER_DEFAULT, "#microsoft.graph.user")
    return _shape(group_json(obj), fields or GROUP_DEFAULT, "#microsoft.graph.group")


# Paging: an opaque, signed $skiptoken that remembers the last id served and when it was issued ("p").


def _check_page_token_age(issued: float) -> None:
    # At least the lifetime old: a lifetime of 0 expires every token already issued.
    if time.time() - issued >= settings.M365SIM_PAGE_TOKEN_LIFETIME_SECONDS:
        raise GraphProblem(
            400,
            "Directory_ExpiredPageToken",
            "The specified page token value has expired and can no longer be included in your request.",
        )


def _top(request: HttpRequest) -> int:
    raw = request.GET.get("$top")
    if raw is None:
        return DEFAULT_TOP
    try:
        top = int(raw)
    except ValueError:
        raise bad_request(
            f"Invalid value '{raw}' for $top query option found. "
            "The $top query option requires a non-negative integer value.",
            code="BadRequest",
        ) from None
    if not 1 <= top <= MAX_TOP:
        # "The default and maximum page sizes are 100 and 999 user objects respectively."
        # List users: https://learn.microsoft.com/graph/api/user-list
        raise bad_request(
            f"Invalid page size specified: '{raw}'. Must be between 1 and {MAX_TOP} inclusive.",
            code="Request_UnsupportedQuery",
        )
    return top


def _relative_path(request: HttpRequest) -> str:
    return request.path.split("/v1.0/", 1)[1]


def _next_link(
    request: HttpRequest, skiptoken: str, *, keep: Iterable[str] = ("$top", "$select", "$filter", "$count")
) -> str:
    query = {k: v for k, v in request.GET.items() if k in keep}
    query["$skiptoken"] = skiptoken
    return f"{directory.GRAPH_PUBLIC_BASE}/{_relative_path(request)}?{urlencode(query, safe=ODATA_SAFE)}"


def _page(
    request: HttpRequest, objects: QuerySet[Any] | list[Any], serialize: Callable[[Any], dict[str, Any]], context: str
) -> dict[str, Any]:
    top = _top(request)
    after = None
    if "$skiptoken" in request.GET:
        try:
            token = signing.loads(request.GET["$skiptoken"], salt="m365sim.page")
            after, issued = token["after"], float(token["p"])
        except (signing.BadSignature, KeyError, TypeError, ValueError):
            raise bad_request("Invalid $skiptoken.") from None
        _check_page_token_age(issued)
    if isinstance(objects, QuerySet):
        queryset = objects.order_by("id")
        if after:
            queryset = queryset.filter(id__gt=after)
        chunk = list(queryset[: top + 1])
    else:
        ordered = sorted(objects, key=lambda o: o.id)
        chunk = [o for o in ordered if after is None or o.id > uuid.UUID(after)][: top + 1]
    body: dict[str, Any] = {"@odata.context": f"{directory.GRAPH_PUBLIC_BASE}/$metadata#{context}"}
    if request.GET.get("$count") == "true":
        body["@odata.count"] = objects.count() if isinstance(objects, QuerySet) else len(objects)
    body["value"] = [serialize(o) for o in chunk[:top]]
    if len(chunk) > top:
        body["@odata.nextLink"] = _next_link(
            request, signing.dumps({"after": str(chunk[top - 1].id), "p": time.time()}, salt="m365sim.page")
        )
    return body


_EQ = re.compile(r"^\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*$")
_STARTSWITH = re.compile(r"^\s*startswith\(\s*(\w+)\s*,\s*'((?:[^']|'')*)'\s*\)\s*$", re.IGNORECASE)


def _filter(request: HttpRequest, queryset: QuerySet[Any], fields: dict[str, str], resource: str) -> QuerySet[Any]:
    raw = request.GET.get("$filter")
    if raw is None:
        return queryset
    for pattern, lookup in ((_EQ, "iexact"), (_STARTSWITH, "istartswith")):
        match = pattern.match(raw)
        if match and match.group(1) in fields:
            value = match.group(2).replace("''", "'")
            return queryset.filter(**{f"{fields[match.group(1)]}__{lookup}": value})
    prop = _EQ.match(raw) or _STARTSWITH.match(raw) or re.match(r"\W*(\w+)", raw)
    name = prop.group(1) if prop else raw
    raise bad_request(
        f"Unsupported or invalid query filter clause specified for property '{name}' of resource '{resource}'.",
        code="Request_UnsupportedQuery",
    )


def _check_count(request: HttpRequest) -> None:
    # $count on directory objects is an advanced query: https://learn.microsoft.com/graph/aad-advanced-queries
    if request.GET.get("$count") == "true" and request.headers.get("ConsistencyLevel", "").lower() != "eventual":
        raise bad_request("$count is not currently supported.")


# Endpoints.

USER_FILTERS = {"userPrincipalName": "user_principal_name", "displayName": "display_name", "mail": "mail", "id": "id"}
GROUP_FILTERS = {"displayName": "display_name", "mail": "mail", "mailNickname": "mail_nickname", "id": "id"}


@graph_endpoint("organization", app=ORG_READ, delegated=("User.Read", *DELEGATED_DIRECTORY))
def organization(request: HttpRequest, caller: Caller) -> dict[str, Any]:
    tenant = caller.tenant
    domains = [
        {
            "capabilities": "Email, OfficeCommunicationsOnline",
            "isDefault": domain.is_default,
            "isInitial": domain.is_initial,
            "name": domain.name,
            "type": "Managed",
        }
        for domain in tenant.domains.all()
    ]
    org = {
        "id": str(tenant.id),
        "displayName": tenant.display_name,
        "tenantType": "AAD",
        "createdDateTime": _iso(tenant.created_at),
        "verifiedDomains": domains,
    }
    return {"@odata.context": f"{directory.GRAPH_PUBLIC_BASE}/$metadata#organization", "value": [org]}


@graph_endpoint("me", app=(), delegated=("User.Read", *DELEGATED_DIRECTORY))
def me(request: HttpRequest, caller: Caller) -> dict[str, Any]:
    assert caller.user is not None  # app-only tokens have no /me permission
    fields = _select(request, "user", USER_DEFAULT, user_json(caller.user))
    return {
        "@odata.context": f"{directory.GRAPH_PUBLIC_BASE}/$metadata#users/$entity",
        **_shape(user_json(caller.user), fields),
    }


def _live_users(tenant: Tenant) -> QuerySet[User]:
    return User.objects.filter(tenant=tenant, deleted_at__isnull=True)


def _live_groups(tenant: Tenant) -> QuerySet[Group]:
    return Group.objects.filter(tenant=tenant, deleted_at__isnull=True)


@graph_endpoint("users", app=USER_READ, delegated=DELEGATED_DIRECTORY)
def users(request: HttpRequest, caller: Caller) -> dict[str, Any]:
    _check_count(request)
    fields = _select(request, "user", USER_DEFAULT, user_json(User()))
    queryset = _filter(request, _live_users(caller.tenant), USER_FILTERS, "User")
    return _page(request, queryset, lambda u: _shape(user_json(u), fields), "users")


def _get_user(tenant: Tenant, identifier: str) -> User:
    queryset = _live_users(tenant)
    try:
        user = queryset.filter(pk=uuid.UUID(identifier)).first()
    except ValueError:
        user = queryset.filter(user_principal_name__iexact=identifier).first()
    if user is None:
        raise not_found(identifier)
    return user


def _get_group(tenant: Tenant, identifier: str) -> Group:
    try:
        group = _live_groups(tenant).filter(pk=uuid.UUID(identifier)).first()
    except ValueError:
        group = None
    if group is None:
        raise not_found(identifier)
    return group


@graph_endpoint("user", app=USER_READ, delegated=DELEGATED_DIRECTORY)
def user_detail(request: HttpRequest, caller: Caller, user_id: str) -> dict[str, Any]:
    user = _get_user(caller.tenant, user_id)
    fields = _select(request, "user", USER_DEFAULT, user_json(user))
    return {
        "@odata.context": f"{directory.GRAPH_PUBLIC_BASE}/$metadata#users/$entity",
        **_shape(user_json(user), fields),
    }


@graph_endpoint("user.memberOf", app=GROUP_READ, delegated=DELEGATED_DIRECTORY)
def user_member_of(request: HttpRequest, caller: Caller, user_id: str) -> dict[str, Any]:
    user = _get_user(caller.tenant, user_id)
    groups = _live_groups(caller.tenant).filter(memberships__member_user=user, memberships__removed=False)
    fields = _member_fields(request)
    return _page(request, groups, lambda g: _member_json(g, fields), "directoryObjects")


@graph_endpoint("groups", app=GROUP_READ, delegated=DELEGATED_DIRECTORY)
def groups(request: HttpRequest, caller: Caller) -> dict[str, Any]:
    _check_count(request)
    fields = _select(request, "group", GROUP_DEFAULT, group_json(Group()))
    queryset = _filter(request, _live_groups(caller.tenant), GROUP_FILTERS, "Group")
    return _page(request, queryset, lambda g: _shape(group_json(g), fields), "groups")


@graph_endpoint("group", app=GROUP_READ, delegated=DELEGATED_DIRECTORY)
def group_detail(request: HttpRequest, caller: Caller, group_id: str) -> dict[str, Any]:
    group = _get_group(caller.tenant, group_id)
    fields = _select(request, "group", GROUP_DEFAULT, group_json(group))
    return {
        "@odata.context": f"{directory.GRAPH_PUBLIC_BASE}/$metadata#groups/$entity",
        **_shape(group_json(group), fields),
    }


def _direct_members(group: Group) -> list[User | Group]:
    memberships = Membership.objects.filter(group=group, removed=False).select_related("member_user", "member_group")
    members: list[User | Group] = []
    for m in memberships:
        member = m.member_user or m.member_group
        if member is not None and member.deleted_at is None:
            members.append(member)
    return members


@graph_endpoint("group.members", app=GROUP_READ, delegated=DELEGATED_DIRECTORY)
def group_members(request: HttpRequest, caller: Caller, group_id: str) -> dict[str, Any]:
    fields = _member_fields(request)
    members = _direct_members(_get_group(caller.tenant, group_id))
    return _page(request, members, lambda m: _member_json(m, fields), "directoryObjects")


@graph_endpoint("group.transitiveMembers", app=GROUP_READ, delegated=DELEGATED_DIRECTORY)
def group_transitive_members(request: HttpRequest, caller: Caller, group_id: str) -> dict[str, Any]:
    root = _get_group(caller.tenant, group_id)
    seen: dict[uuid.UUID, User | Group] = {}
    pending, visited = [root], {root.id}
    while pending:
        for member in _direct_members(pending.pop()):
            seen.setdefault(member.id, member)
            if isinstance(member, Group) and member.id not in visited:
                visited.add(member.id)
                pending.append(member)
    fields = _member_fields(request)
    return _page(request, list(seen.values()), lambda m: _member_json(m, fields), "directoryObjects")


# Directory roles: a role exists in a tenant only once activated, i.e. once someone holds it, and its object id
# is not its template id. Neither the list nor the members are paged.
# https://learn.microsoft.com/graph/api/directoryrole-list, https://learn.microsoft.com/graph/api/directoryrole-list-members


def _role_id(tenant: Tenant, template_id: str) -> str:
    return str(uuid.uuid5(tenant.id, template_id))


def _active_role_templates(tenant: Tenant) -> list[str]:
    held = set(_live_users(tenant).values_list("role_assignments__role_template_id", flat=True))
    return sorted(template for template in directory.ROLE_NAMES if template in held)


def _role_json(tenant: Tenant, template_id: str) -> dict[str, Any]:
    return {
        "id": _role_id(tenant, template_id),
        "deletedDateTime": None,
        "description": directory.ROLE_DESCRIPTIONS[template_id],
        "displayName": directory.ROLE_NAMES[template_id],
        "roleTemplateId": template_id,
    }


def _role_template(tenant: Tenant, *, role_id: str | None = None, template_id: str | None = None) -> str:
    for template in _active_role_templates(tenant):
        if template == (template_id or "").lower() or _role_id(tenant, template) == role_id:
            return template
    raise not_found(role_id or f"roleTemplateId={template_id}")


@graph_endpoint("directoryRoles", app=ROLE_READ, delegated=DELEGATED_DIRECTORY)
def directory_roles(request: HttpRequest, caller: Caller) -> dict[str, Any]:
    return {
        "@odata.context": f"{directory.GRAPH_PUBLIC_BASE}/$metadata#directoryRoles",
        "value": [_role_json(caller.tenant, t) for t in _active_role_templates(caller.tenant)],
    }


@graph_endpoint("directoryRole", app=ROLE_READ, delegated=DELEGATED_DIRECTORY)
def directory_role(
    request: HttpRequest, caller: Caller, role_id: str | None = None, template_id: str | None = None
) -> dict[str, Any]:
    template = _role_template(caller.tenant, role_id=role_id, template_id=template_id)
    return {
        "@odata.context": f"{directory.GRAPH_PUBLIC_BASE}/$metadata#directoryRoles/$entity",
        **_role_json(caller.tenant, template),
    }


@graph_endpoint("directoryRole.members", app=ROLE_READ, delegated=DELEGATED_DIRECTORY)
def directory_role_members(
    request: HttpRequest, caller: Caller, role_id: str | None = None, template_id: str | None = None
) -> dict[str, Any]:
    template = _role_template(caller.tenant, role_id=role_id, template_id=template_id)
    holders = _live_users(caller.tenant).filter(role_assignments__role_template_id=template).order_by("id")
    fields = _member_fields(request)
    return {
        "@odata.context": f"{directory.GRAPH_PUBLIC_BASE}/$metadata#directoryObjects",
        "value": [_member_json(user, fields) for user in holders],
    }


COLLECTIONS = frozenset({"users", "groups", "directoryRoles"})
NAVIGATIONS = frozenset({"organization", "me", "memberOf", "members", "transitiveMembers", "delta"})


def unknown_segment(request: HttpRequest, path: str) -> HttpResponse:
    """Graph's answer to a path it cannot parse: 400, naming the first segment it does not know.

    Microsoft Graph error responses and resource types: https://learn.microsoft.com/graph/errors
    """
    segments = [s for s in path.split("/") if s]
    unknown = segments[-1] if segments else ""
    after_collection = False
    for segment in segments:
        name = segment.split("(", 1)[0].removeprefix("microsoft.graph.")
        if after_collection and name != "delta":
            after_collection = False  # a key
        elif name in COLLECTIONS:
            after_collection = True
        elif name not in NAVIGATIONS:
            unknown = segment
            break
    request_id = str(uuid.uuid4())
    client_request_id = request.headers.get("client-request-id", request_id)
    response = graph_error(
        400,
        "BadRequest",
        f"Resource not found for the segment '{unknown}'.",
        request_id=request_id,
        client_request_id=client_request_id,
    )
    response["request-id"] = request_id
    response["client-request-id"] = client_request_id
    return response


# Delta: https://learn.microsoft.com/graph/delta-query-users, https://learn.microsoft.com/graph/delta-query-groups


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
