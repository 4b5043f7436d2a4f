"""Microsoft Graph v1.0: the directory reads the portal makes.

https://learn.microsoft.com/graph/api/user-list, group-list, group-list-members, user-delta, group-delta,
directoryrole-list, directoryrole-list-members
"""

import datetime as dt
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from m365sim import directory
from m365sim.models import Group, MemberObject, Membership, Tenant, User
from m365sim.views.common import graph_error
from m365sim.views.graph_request import (
    DELEGATED_DIRECTORY,
    GROUP_READ,
    ORG_READ,
    ROLE_READ,
    USER_READ,
    Caller,
    GraphProblem,
    bad_request,
    graph_endpoint,
    not_found,
)

ODATA_SAFE = "$',()"  # Graph's links keep $skiptoken, $filter's quotes and parentheses readable
DEFAULT_TOP = 100
MAX_TOP = 999

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
    "resourceProvisioningOptions",
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
        # "Team" once the group is provisioned as a team: https://learn.microsoft.com/graph/teams-list-all-teams
        "resourceProvisioningOptions": ["Team"] if group.is_team else [],
    }


def member_object_json(obj: MemberObject) -> dict[str, Any]:
    """The few properties the simulator keeps of a contact, a device or a service principal."""
    data: dict[str, Any] = {"id": str(obj.id), "displayName": obj.display_name}
    if obj.kind == MemberObject.Kind.CONTACT:
        data["mail"] = obj.mail or None
    elif obj.kind == MemberObject.Kind.DEVICE:
        data["deviceId"] = str(obj.device_id)
    else:
        data["appId"] = str(obj.app_id)
    return data


# Reading a contact, a device or a service principal in full takes a permission of its own; without it a
# directoryObject collection still lists the object, with its @odata.type and id and every other property null.
# Limited information returned for inaccessible member objects:
# https://learn.microsoft.com/graph/permissions-overview#limited-information-returned-for-inaccessible-member-objects
MEMBER_OBJECT_READ = {
    MemberObject.Kind.CONTACT: frozenset({"OrgContact.Read.All", "Directory.Read.All", "Directory.ReadWrite.All"}),
    MemberObject.Kind.DEVICE: frozenset({"Device.Read.All", "Directory.Read.All", "Directory.ReadWrite.All"}),
    MemberObject.Kind.SERVICE_PRINCIPAL: frozenset(
        {"Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
    ),
}


def _granted(caller: Caller) -> set[str]:
    if caller.user is not None:
        return set(caller.claims.get("scp", "").split())
    return set(caller.claims.get("roles", []))


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


Member = User | Group | MemberObject


def member_kind(member: Member) -> str:
    if isinstance(member, User):
        return "user"
    if isinstance(member, Group):
        return "group"
    return member.kind


def odata_type(kind: str) -> str:
    return f"#microsoft.graph.{kind}"


def _member_json(obj: Member, caller: Caller, fields: list[str] | None = None) -> dict[str, Any]:
    if isinstance(obj, User):
        return _shape(user_json(obj), fields or USER_DEFAULT, odata_type(member_kind(obj)))
    if isinstance(obj, Group):
        return _shape(group_json(obj), fields or GROUP_DEFAULT, odata_type(member_kind(obj)))
    data = member_object_json(obj)
    if not _granted(caller) & MEMBER_OBJECT_READ[MemberObject.Kind(obj.kind)]:
        data = {name: value if name == "id" else None for name, value in data.items()}
    return _shape(data, fields or list(data), odata_type(member_kind(obj)))


# Paging: an opaque, signed $skiptoken that remembers the last id served and when it was issued ("p").


def check_page_token_age(tenant: Tenant, issued: float) -> None:
    # At least the lifetime old (a lifetime of 0 expires every token already issued), or issued before the
    # tenant's "expire page tokens now".
    expired_after = tenant.page_tokens_valid_after
    too_old = time.time() - issued >= settings.M365SIM_PAGE_TOKEN_LIFETIME_SECONDS
    if too_old or (expired_after is not None and issued <= expired_after.timestamp()):
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
    request: HttpRequest, skiptoken: str, *, keep: Iterable[str] = ("$top", "$select", "$filter", "$search", "$count")
) -> str:
    query = {k: v for k, v in request.GET.items() if k in keep}
    query["$skiptoken"] = skiptoken
    return f"{directory.GRAPH_PUBLIC_BASE}/{_relative_path(request)}?{urlencode(query, safe=ODATA_SAFE)}"


def _page(
    request: HttpRequest,
    caller: Caller,
    objects: QuerySet[Any] | list[Any],
    serialize: Callable[[Any], dict[str, Any]],
    context: str,
) -> dict[str, Any]:
    top = _top(request)
    after = None
    if "$skiptoken" in request.GET:
        try:
            token = signing.loads(request.GET["$skiptoken"], salt="m365sim.page")
            after, issued = token["after"], float(token["p"])
        except (signing.BadSignature, KeyError, TypeError, ValueError):
            raise bad_request("Invalid $skiptoken.") from None
        check_page_token_age(caller.tenant, issued)
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
_EQ_BOOLEAN = re.compile(r"^\s*(\w+)\s+eq\s+(true|false)\s*$")


def _filter(
    request: HttpRequest,
    queryset: QuerySet[Any],
    fields: dict[str, str],
    resource: str,
    booleans: dict[str, str],
) -> QuerySet[Any]:
    raw = request.GET.get("$filter")
    if raw is None:
        return queryset
    for pattern, lookup in ((_EQ, "iexact"), (_STARTSWITH, "istartswith")):
        match = pattern.match(raw)
        if match and match.group(1) in fields:
            value = match.group(2).replace("''", "'")
            return queryset.filter(**{f"{fields[match.group(1)]}__{lookup}": value})
    boolean = _EQ_BOOLEAN.match(raw)
    if boolean and boolean.group(1) in booleans:
        return queryset.filter(**{booleans[boolean.group(1)]: boolean.group(2) == "true"})
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


# $search on directory objects: an advanced query. Words, not substrings: displayName and description are split
# into tokens (at spaces, at a change from lower to upper case, between letters and digits, and at each symbol,
# with the words a symbol joins also kept as one), and each token of the searched text must begin a token of the
# property, in any order and whatever the case; any other property that $filter takes is searched as startsWith.
# Clauses are "property:text" in double quotes (a quote or a backslash inside escaped with a backslash), joined by
# AND and OR in upper case, with parentheses; the whole $search is ANDed with $filter. Without the ConsistencyLevel
# header the request is refused.
# Use the $search query parameter: https://learn.microsoft.com/graph/search-query-parameter#using-search-on-directory-object-collections
# Advanced query capabilities: https://learn.microsoft.com/graph/aad-advanced-queries#error-handling-for-advanced-queries-on-directory-objects

TOKENIZED = frozenset({"displayName", "description"})
SEARCH_NEEDS_EVENTUAL = (
    "Request with $search query parameter only works through MSGraph with a special request header: "
    "'ConsistencyLevel: eventual'"
)


def search_tokens(text: str) -> set[str]:
    """The tokens Graph's directory search extracts from `text`, lowercased: "HelloWorld" and "helloWORLD" give
    hello and world ("HELLOworld" one token: only a change from lower to upper case splits), "hello123world" gives
    hello, 123 and world, "hello.world" gives hello, ".", world and helloworld."""
    tokens: set[str] = set()
    for chunk in text.split():
        pieces: list[str] = []
        word = ""
        for char in chunk:
            if char.isalnum():
                splits = word and (char.isdigit() != word[-1].isdigit() or (word[-1].islower() and char.isupper()))
                if splits:
                    pieces.append(word)
                    word = ""
                word += char
                continue
            if word:
                pieces.append(word)
                word = ""
            tokens.add(char)
        if word:
            pieces.append(word)
        tokens.update(piece.casefold() for piece in pieces)
        joined = "".join(char for char in chunk if char.isalnum()).casefold()
        if joined and len(pieces) > 1 and not chunk.isalnum():
            tokens.add(joined)  # words separated only by symbols are also one word: hello-world finds helloworld
    return tokens


@dataclass(frozen=True)
class Clause:
    """One "property:text" of a $search."""

    prop: str
    text: str


@dataclass(frozen=True)
class Either:
    """Clauses joined by OR (`any_of`) or by AND (`all_of`)."""

    terms: tuple["Search", ...]
    all_of: bool


Search = Clause | Either


def _search_problem(raw: str, why: str) -> GraphProblem:
    # Microsoft documents the rules, not the message of a malformed $search: this wording is the simulator's.
    return bad_request(
        f"Invalid $search '{raw}': {why}. Each clause is \"property:text\" in double quotes; "
        "clauses are joined by AND or OR in upper case.",
        code="Request_UnsupportedQuery",
    )


class _SearchParser:
    def __init__(self, raw: str) -> None:
        self.raw, self.at = raw, 0

    def parse(self) -> Search:
        expression = self._any_of()
        self._spaces()
        if self.at != len(self.raw):
            raise _search_problem(self.raw, f"unexpected text at position {self.at}")
        return expression

    def _spaces(self) -> None:
        while self.at < len(self.raw) and self.raw[self.at].isspace():
            self.at += 1

    def _keyword(self, word: str) -> bool:
        self._spaces()
        end = self.at + len(word)
        if self.raw[self.at : end] == word and (end == len(self.raw) or self.raw[end] in ' "('):
            self.at = end
            return True
        if self.raw[self.at : end].upper() == word and self.raw[self.at : end] != word:
            raise _search_problem(self.raw, f"{word} must be in upper case")
        return False

    def _any_of(self) -> Search:
        terms = [self._all_of()]
        while self._keyword("OR"):
            terms.append(self._all_of())
        return terms[0] if len(terms) == 1 else Either(tuple(terms), all_of=False)

    def _all_of(self) -> Search:
        terms = [self._term()]
        while self._keyword("AND"):
            terms.append(self._term())
        return terms[0] if len(terms) == 1 else Either(tuple(terms), all_of=True)

    def _term(self) -> Search:
        self._spaces()
        if self.raw.startswith("(", self.at):
            self.at += 1
            inner = self._any_of()
            self._spaces()
            if not self.raw.startswith(")", self.at):
                raise _search_problem(self.raw, "a parenthesis is not closed")
            self.at += 1
            return inner
        if not self.raw.startswith('"', self.at):
            raise _search_problem(self.raw, "a clause must be in double quotes")
        return self._clause()

    def _clause(self) -> Clause:
        self.at += 1
        text = []
        while self.at < len(self.raw) and self.raw[self.at] != '"':
            if self.raw[self.at] == "\\" and self.at + 1 < len(self.raw):
                self.at += 1
            text.append(self.raw[self.at])
            self.at += 1
        if self.at == len(self.raw):
            raise _search_problem(self.raw, "a double quote is not closed")
        self.at += 1
        prop, colon, value = "".join(text).partition(":")
        if not colon or not prop.strip():
            raise _search_problem(self.raw, 'a clause must name its property, as in "displayName:sales"')
        return Clause(prop.strip(), value)


def _matches(search: Search, values: dict[str, str]) -> bool:
    if isinstance(search, Either):
        found = (_matches(term, values) for term in search.terms)
        return all(found) if search.all_of else any(found)
    value = values[search.prop]
    if search.prop not in TOKENIZED:
        return value.casefold().startswith(search.text.casefold())
    wanted, present = search_tokens(search.text), search_tokens(value)
    return all(any(token.startswith(part) for token in present) for part in wanted)


def _clauses(search: Search) -> Iterator[Clause]:
    if isinstance(search, Clause):
        yield search
    else:
        for term in search.terms:
            yield from _clauses(term)


def _search(request: HttpRequest, queryset: QuerySet[Any], fields: dict[str, str], resource: str) -> QuerySet[Any]:
    raw = request.GET.get("$search")
    if raw is None:
        return queryset
    if request.headers.get("ConsistencyLevel", "").lower() != "eventual":
        raise bad_request(SEARCH_NEEDS_EVENTUAL, code="Request_UnsupportedQuery")
    search = _SearchParser(raw).parse()
    for clause in _clauses(search):
        if clause.prop not in fields:
            raise bad_request(
                f"Unsupported or invalid query filter clause specified for property '{clause.prop}' "
                f"of resource '{resource}'.",
                code="Request_UnsupportedQuery",
            )
    rows = queryset.values_list("pk", *fields.values())
    found = [pk for pk, *values in rows if _matches(search, dict(zip(fields, values, strict=True)))]
    return queryset.filter(pk__in=found)


# Endpoints.

USER_FILTERS = {"userPrincipalName": "user_principal_name", "displayName": "display_name", "mail": "mail", "id": "id"}
GROUP_FILTERS = {"displayName": "display_name", "mail": "mail", "mailNickname": "mail_nickname", "id": "id"}
# eq on a boolean works by default ("accountEnabled eq false", "mailEnabled eq true"):
# https://learn.microsoft.com/graph/aad-advanced-queries
USER_BOOLEANS = {"accountEnabled": "account_enabled"}
GROUP_BOOLEANS = {"mailEnabled": "mail_enabled", "securityEnabled": "security_enabled"}
# The string properties $search takes: those $filter takes with startsWith, and description (tokenized).
USER_SEARCH = {
    "displayName": "display_name",
    "userPrincipalName": "user_principal_name",
    "mail": "mail",
    "givenName": "given_name",
    "surname": "surname",
}
GROUP_SEARCH = {
    "displayName": "display_name",
    "description": "description",
    "mail": "mail",
    "mailNickname": "mail_nickname",
}


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
    queryset = _filter(request, _live_users(caller.tenant), USER_FILTERS, "User", USER_BOOLEANS)
    queryset = _search(request, queryset, USER_SEARCH, "User")
    return _page(request, caller, queryset, lambda u: _shape(user_json(u), fields), "users")


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
    return _page(request, caller, groups, lambda g: _member_json(g, caller, fields), "directoryObjects")


@graph_endpoint("groups", app=GROUP_READ, delegated=DELEGATED_DIRECTORY)
def groups(request: HttpRequest, caller: Caller) -> dict[str, Any]:
    _check_count(request)
    fields = _select(request, "group", GROUP_DEFAULT, group_json(Group()))
    queryset = _filter(request, _live_groups(caller.tenant), GROUP_FILTERS, "Group", GROUP_BOOLEANS)
    queryset = _search(request, queryset, GROUP_SEARCH, "Group")
    return _page(request, caller, queryset, lambda g: _shape(group_json(g), fields), "groups")


@graph_endpoint("group", app=GROUP_READ, delegated=DELEGATED_DIRECTORY)
def group_detail(request: HttpRequest, caller: Caller, group_id: str) -> dict[str, Any]:
    group = _get_group(caller.tenant, group_id)
    fields = _select(request, "group", GROUP_DEFAULT, group_json(group))
    return {
        "@odata.context": f"{directory.GRAPH_PUBLIC_BASE}/$metadata#groups/$entity",
        **_shape(group_json(group), fields),
    }


def _direct_members(group: Group) -> list[Member]:
    memberships = Membership.objects.filter(group=group, removed=False).select_related(
        "member_user", "member_group", "member_object"
    )
    return [m.member for m in memberships if m.member is not None and m.member.deleted_at is None]


@graph_endpoint("group.members", app=GROUP_READ, delegated=DELEGATED_DIRECTORY)
def group_members(request: HttpRequest, caller: Caller, group_id: str) -> dict[str, Any]:
    fields = _member_fields(request)
    # A known issue of v1.0: service principals are not listed among a group's members (beta and
    # $expand=members list them). List group members: https://learn.microsoft.com/graph/api/group-list-members
    members = [
        member
        for member in _direct_members(_get_group(caller.tenant, group_id))
        if not (isinstance(member, MemberObject) and member.kind == MemberObject.Kind.SERVICE_PRINCIPAL)
    ]
    return _page(request, caller, members, lambda m: _member_json(m, caller, fields), "directoryObjects")


@graph_endpoint("group.transitiveMembers", app=GROUP_READ, delegated=DELEGATED_DIRECTORY)
def group_transitive_members(request: HttpRequest, caller: Caller, group_id: str) -> dict[str, Any]:
    root = _get_group(caller.tenant, group_id)
    seen: dict[uuid.UUID, Member] = {}
    pending, visited = [root], {root.id}
    while pending:
        for member in _direct_members(pending.pop()):
            seen.setdefault(member.id, member)
            if isinstance(member, Group) and member.id not in visited:
                visited.add(member.id)
                pending.append(member)
    fields = _member_fields(request)
    return _page(request, caller, list(seen.values()), lambda m: _member_json(m, caller, fields), "directoryObjects")


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
        "value": [_member_json(user, caller, fields) for user in holders],
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
