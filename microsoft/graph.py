"""The portal's Microsoft Graph client: typed results, named exceptions, never raw HTTP for callers.

One client per tenant, with app-only tokens. A 401 is retried once with a fresh token (the cached one may be
stale); after that, 401 and 403 mean the customer's consent is broken. Paging follows `@odata.nextLink`
exactly as returned; delta rounds end in an `@odata.deltaLink` to keep for the next round.
"""

import email.utils
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Generic, TypeVar

import requests
from django.conf import settings

from microsoft import request_counts as metrics_store
from microsoft.errors import (
    ConsentRevoked,
    DeltaTokenExpired,
    GraphError,
    NotFound,
    PageTokenExpired,
    PermissionMissing,
    Throttled,
    TransientError,
)
from microsoft.http import MicrosoftSession
from microsoft.identity import AppToken, acquire_app_token

MAX_PAGE_SIZE = 999
DEFAULT_RETRY_AFTER = 10.0
USER_FIELDS = "id,userPrincipalName,displayName,mail,accountEnabled,assignedLicenses"
GROUP_FIELDS = "id,displayName,mail,mailEnabled,securityEnabled,groupTypes"


@dataclass(frozen=True)
class VerifiedDomain:
    name: str
    is_default: bool
    is_initial: bool


@dataclass(frozen=True)
class MicrosoftTenantDetails:
    id: str
    display_name: str
    verified_domains: tuple[VerifiedDomain, ...]


@dataclass(frozen=True)
class DirectoryUser:
    id: str
    user_principal_name: str
    display_name: str
    mail: str | None = None
    account_enabled: bool | None = None
    assigned_license_skus: tuple[str, ...] = ()

    @classmethod
    def from_graph(cls, data: dict[str, Any]) -> "DirectoryUser":
        return cls(
            id=data["id"],
            user_principal_name=data.get("userPrincipalName") or "",
            display_name=data.get("displayName") or "",
            mail=data.get("mail"),
            account_enabled=data.get("accountEnabled"),
            assigned_license_skus=tuple(lic["skuId"] for lic in data.get("assignedLicenses") or ()),
        )


@dataclass(frozen=True)
class DirectoryGroup:
    id: str
    display_name: str
    mail: str | None = None
    mail_enabled: bool | None = None
    security_enabled: bool | None = None
    group_types: tuple[str, ...] = ()

    @classmethod
    def from_graph(cls, data: dict[str, Any]) -> "DirectoryGroup":
        return cls(
            id=data["id"],
            display_name=data.get("displayName") or "",
            mail=data.get("mail"),
            mail_enabled=data.get("mailEnabled"),
            security_enabled=data.get("securityEnabled"),
            group_types=tuple(data.get("groupTypes") or ()),
        )


@dataclass(frozen=True)
class MemberRef:
    """A directory object by id and type: a member as members@delta names it, or a member that is neither a user
    nor a group (an organizational contact, a device, a service principal), of which Graph sends little more."""

    id: str
    kind: str  # @odata.type without "#microsoft.graph.": "user", "group", "orgContact", "device", "servicePrincipal"


@dataclass(frozen=True)
class UserChange:
    id: str
    user: DirectoryUser | None  # None when removed
    removed: str | None = None  # "changed" (soft-deleted, restorable) or "deleted"


@dataclass(frozen=True)
class GroupChange:
    id: str
    group: DirectoryGroup | None
    removed: str | None = None
    members_added: tuple[MemberRef, ...] = ()
    members_removed: tuple[MemberRef, ...] = ()


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_link: str | None = None
    delta_link: str | None = None  # only on the last page of a delta round
    count: int | None = None


@dataclass
class GraphClient:
    """Graph for one customer tenant. `fresh_token` skips the shared token cache (right after consent)."""

    tenant_id: str
    fresh_token: bool = False
    token_provider: Callable[..., AppToken] = acquire_app_token
    session: MicrosoftSession = field(default_factory=MicrosoftSession)
    # The last answer's x-ms-throttle-limit-percentage (sent past 0.8 of the tenant's budget, up to 1.8).
    throttle_percentage: float | None = field(default=None, init=False)
    _token: AppToken | None = field(default=None, init=False, repr=False)
    _requests: int = field(default=0, init=False, repr=False)

    def take_request_count(self) -> int:
        """Requests sent since the last call (for a sync run's statistics)."""
        count, self._requests = self._requests, 0
        return count

    # Reads.

    def tenant_details(self) -> MicrosoftTenantDetails:
        data = self._get("organization")["value"][0]
        domains = tuple(
            VerifiedDomain(name=d["name"], is_default=bool(d.get("isDefault")), is_initial=bool(d.get("isInitial")))
            for d in data.get("verifiedDomains", ())
        )
        return MicrosoftTenantDetails(
            id=data["id"], display_name=data.get("displayName") or "", verified_domains=domains
        )

    def user(self, id_or_upn: str) -> DirectoryUser | None:
        try:
            return DirectoryUser.from_graph(self._get(f"users/{id_or_upn}", params={"$select": USER_FIELDS}))
        except NotFound:
            return None

    def find_user_by_upn(self, upn: str) -> DirectoryUser | None:
        """The user whose UPN is `upn` (compared case-insensitively, as Entra does)."""
        params = {"$filter": f"userPrincipalName eq '{_quote(upn)}'", "$select": USER_FIELDS}
        users = self.users_page(params=params).items
        return users[0] if users else None

    def users_page(
        self, link: str | None = None, *, params: dict[str, str] | None = None, page_size: int = MAX_PAGE_SIZE
    ) -> Page[DirectoryUser]:
        return self._page(
            link or "users",
            DirectoryUser.from_graph,
            None if link else {"$top": str(page_size), "$select": USER_FIELDS, **(params or {})},
        )

    def iter_users(self, *, page_size: int = MAX_PAGE_SIZE) -> Iterator[DirectoryUser]:
        return self._iterate(lambda link: self.users_page(link, page_size=page_size))

    def count_users(self) -> int:
        """$count is an advanced query (ConsistencyLevel: eventual): https://learn.microsoft.com/graph/aad-advanced-queries"""
        params = {"$count": "true", "$top": "1", "$select": "id"}
        return self._page("users", _member, params, headers={"ConsistencyLevel": "eventual"}).count or 0

    def search_groups(self, prefix: str, *, limit: int = 25) -> list[DirectoryGroup]:
        params = {"$filter": f"startswith(displayName,'{_quote(prefix)}')", "$select": GROUP_FIELDS, "$top": str(limit)}
        return self._page("groups", DirectoryGroup.from_graph, params).items

    def groups_page(self, link: str | None = None, *, page_size: int = MAX_PAGE_SIZE) -> Page[DirectoryGroup]:
        return self._page(
            link or "groups",
            DirectoryGroup.from_graph,
            None if link else {"$top": str(page_size), "$select": GROUP_FIELDS},
        )

    def iter_group_members(
        self, group_id: str, *, transitive: bool = False
    ) -> Iterator[DirectoryUser | DirectoryGroup | MemberRef]:
        relation = "transitiveMembers" if transitive else "members"
        first = f"groups/{group_id}/{relation}"
        return self._iterate(
            lambda link: self._page(link or first, _member, None if link else {"$top": str(MAX_PAGE_SIZE)})
        )

    def iter_member_of_groups(self, user_id: str) -> Iterator[DirectoryGroup]:
        """The groups a user is a direct member of (directory roles left out)."""
        first = f"users/{user_id}/memberOf"
        members = self._iterate(
            lambda link: self._page(link or first, _member, None if link else {"$top": str(MAX_PAGE_SIZE)})
        )
        return (m for m in members if isinstance(m, DirectoryGroup))

    def directory_role_member_ids(self, role_template_id: str) -> set[str]:
        """Ids of the users holding a directory role. `NotFound` when the role is not activated in the tenant:
        https://learn.microsoft.com/graph/api/directoryrole-list-members"""
        path = f"directoryRoles(roleTemplateId='{role_template_id}')/members"
        members = self._iterate(lambda link: self._page(link or path, _member, None if link else {"$select": "id"}))
        return {m.id for m in members}

    # Delta rounds: https://learn.microsoft.com/graph/delta-query-overview

    def users_delta(self, link: str | None = None, *, page_size: int = MAX_PAGE_SIZE) -> Page[UserChange]:
        """One page of a delta round; start with no link (a full round), then follow next_link, keep delta_link."""
        return self._page(
            link or "users/delta",
            _user_change,
            None if link else {"$select": USER_FIELDS},
            headers={"Prefer": f"odata.maxpagesize={page_size}"},
        )

    def groups_delta(self, link: str | None = None, *, page_size: int = MAX_PAGE_SIZE) -> Page[GroupChange]:
        return self._page(
            link or "groups/delta",
            _group_change,
            None if link else {"$select": f"{GROUP_FIELDS},members"},
            headers={"Prefer": f"odata.maxpagesize={page_size}"},
        )

    # Plumbing.

    def _iterate(self, fetch: Callable[[str | None], Page[T]]) -> Iterator[T]:
        link: str | None = None
        while True:
            page = fetch(link)
            yield from page.items
            if not page.next_link:
                return
            link = page.next_link

    def _page(
        self,
        path_or_link: str,
        parse: Callable[[dict[str, Any]], T],
        params: dict[str, str] | None,
        *,
        headers: dict[str, str] | None = None,
    ) -> Page[T]:
        body = self._get(path_or_link, params=params, headers=headers)
        return Page(
            items=[parse(item) for item in body.get("value", ())],
            next_link=body.get("@odata.nextLink"),
            delta_link=body.get("@odata.deltaLink"),
            count=body.get("@odata.count"),
        )

    def _get(
        self, path_or_link: str, *, params: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        # A nextLink or deltaLink is followed exactly as returned; anything else is relative to Graph's base URL.
        url = path_or_link if "://" in path_or_link else f"{settings.GRAPH_BASE_URL}/{path_or_link}"
        for attempt in range(2):
            token = self._access_token(fresh=attempt > 0)
            try:
                response = self.session.get(
                    url,
                    params=params,
                    headers={
                        "Authorization": f"Bearer {token}",
                        "client-request-id": str(uuid.uuid4()),
                        **(headers or {}),
                    },
                )
            except requests.RequestException as exc:
                raise TransientError(f"Microsoft Graph unreachable: {exc.__class__.__name__}") from exc
            self._requests += 1
            metrics_store.count_graph_request(response.status_code)
            self.throttle_percentage = _float_header(response, "x-ms-throttle-limit-percentage")
            if response.status_code == HTTPStatus.UNAUTHORIZED and attempt == 0:
                continue  # the cached token may be stale: once more with a fresh one
            return _parse(response)
        raise AssertionError("unreachable")

    def _access_token(self, *, fresh: bool) -> str:
        if fresh or self._token is None:
            self._token = self.token_provider(self.tenant_id, fresh=fresh or self.fresh_token)
        return self._token.access_token


def _float_header(response: requests.Response, name: str) -> float | None:
    # https://learn.microsoft.com/graph/throttling-limits (sent from 0.8 of the limit on)
    try:
        return float(response.headers[name])
    except (KeyError, ValueError):
        return None


def _quote(value: str) -> str:
    return value.replace("'", "''")


def _kind(data: dict[str, Any]) -> str:
    """A directory object's type. "A group can have users, organizational contacts, devices, service principals
    and other groups as members": https://learn.microsoft.com/graph/api/group-list-members"""
    return str(data.get("@odata.type") or "#microsoft.graph.directoryObject").removeprefix("#microsoft.graph.")


def _member(data: dict[str, Any]) -> DirectoryUser | DirectoryGroup | MemberRef:
    kind = _kind(data)
    if kind == "group":
        return DirectoryGroup.from_graph(data)
    if kind == "user":
        return DirectoryUser.from_graph(data)
    return MemberRef(id=data["id"], kind=kind)


def _user_change(data: dict[str, Any]) -> UserChange:
    if "@removed" in data:
        return UserChange(id=data["id"], user=None, removed=data["@removed"].get("reason", "deleted"))
    return UserChange(id=data["id"], user=DirectoryUser.from_graph(data))


def _group_change(data: dict[str, Any]) -> GroupChange:
    if "@removed" in data:
        return GroupChange(id=data["id"], group=None, removed=data["@removed"].get("reason", "deleted"))
    added: list[MemberRef] = []
    removed: list[MemberRef] = []
    for member in data.get("members@delta", ()):
        ref = MemberRef(id=member["id"], kind=_kind(member))
        (removed if "@removed" in member else added).append(ref)
    return GroupChange(
        id=data["id"], group=DirectoryGroup.from_graph(data), members_added=tuple(added), members_removed=tuple(removed)
    )


def _retry_after(response: requests.Response) -> float:
    value = response.headers.get("Retry-After", "")
    if value.isdigit():
        return float(value)
    parsed = email.utils.parsedate_to_datetime(value) if value else None
    return max(0.0, parsed.timestamp() - time.time()) if parsed else DEFAULT_RETRY_AFTER


def _parse(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.ok and isinstance(body, dict):
        return body
    error = (body or {}).get("error") if isinstance(body, dict) else None
    code = error.get("code", "") if isinstance(error, dict) else ""
    message = error.get("message", response.reason) if isinstance(error, dict) else response.reason
    status = response.status_code
    if response.ok:
        raise TransientError("Microsoft Graph answered something that is not JSON.", status=status)
    # Graph's error body: https://learn.microsoft.com/graph/errors
    if status == HTTPStatus.TOO_MANY_REQUESTS or (
        status == HTTPStatus.SERVICE_UNAVAILABLE and "Retry-After" in response.headers
    ):
        raise Throttled(message, retry_after=_retry_after(response), code=code, status=status)
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        raise TransientError(message, code=code, status=status)
    if status == HTTPStatus.UNAUTHORIZED:
        raise ConsentRevoked(message, code=code, status=status)
    if status == HTTPStatus.FORBIDDEN:
        raise PermissionMissing(message, code=code, status=status)
    if status == HTTPStatus.NOT_FOUND:
        raise NotFound(message, code=code, status=status)
    if code.lower() == "directory_expiredpagetoken":
        raise PageTokenExpired(message, code=code, status=status)
    # Expired delta token: 400 syncStateNotFound for directory objects; 410 Gone elsewhere.
    if status == HTTPStatus.GONE or code.lower() in ("syncstatenotfound", "resyncrequired"):
        raise DeltaTokenExpired(message, code=code, status=status)
    raise GraphError(message, code=code, status=status)
