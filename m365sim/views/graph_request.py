"""Microsoft Graph's request pipeline in the simulator: the bearer token, the tenant's faults, permissions, headers.

https://learn.microsoft.com/graph/auth-v2-service, https://learn.microsoft.com/graph/throttling
"""

import functools
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from m365sim import directory, propagation, services, tokens
from m365sim.models import ServicePrincipal, Tenant, User
from m365sim.views.common import graph_error

# Graph's JSON answers, as its documented responses show them (OData JSON Format 4.0, section 4.1 "Header
# Content-Type": https://docs.oasis-open.org/odata/odata-json-format/v4.0/odata-json-format-v4.0.html).
ODATA_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

USER_READ = ("User.Read.All", "User.ReadWrite.All", "Directory.Read.All")
GROUP_READ = ("GroupMember.Read.All", "Group.Read.All", "Directory.Read.All")
ORG_READ = ("Organization.Read.All", "Directory.Read.All")
ROLE_READ = ("RoleManagement.Read.Directory", "Directory.Read.All")
DELEGATED_DIRECTORY = ("User.Read.All", "User.ReadBasic.All", "Directory.Read.All")
# Set on the requests a $batch carries (see m365sim.views.batch): the batch's latency is paid once, and the
# tenant's batch_throttle_next applies to them.
BATCH_ITEM = "m365sim.batch_item"
# The tenant a request's token names, once authenticated.
TENANT_OF_REQUEST = "m365sim.tenant"
# In a parallel $batch (no dependsOn), the requests to each mailbox so far: mailbox id -> count.
BATCH_MAILBOXES = "m365sim.batch_mailboxes"


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
            started = time.monotonic()
            request_id = str(uuid.uuid4())
            client_request_id = request.headers.get("client-request-id", request_id)
            try:
                caller = authenticate(request, name)
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
            if request.META.get(BATCH_ITEM) is not True:
                answer_after_latency(request, started)
            return response

        return wrapper

    return decorator


def authenticate(request: HttpRequest, endpoint: str, *, throttle: bool = True) -> Caller:
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
    request.META[TENANT_OF_REQUEST] = tenant
    in_batch = request.META.get(BATCH_ITEM) is True
    # "Requests in a batch are evaluated individually against the applicable throttling limits and if any request
    # exceeds the limits, it fails with a status of 429." https://learn.microsoft.com/graph/json-batching
    if in_batch and services.take_batch_throttle(tenant):
        raise GraphProblem(
            HTTPStatus.TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Too many requests.",
            {"Retry-After": str(tenant.throttle_retry_after)},
        )
    if throttle and services.take_throttle(tenant):
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


def answer_after_latency(request: HttpRequest, started: float) -> None:
    """The tenant's `latency_ms` is the whole time a request takes, as Microsoft's latency is the time to its answer:
    the simulator's own work counts toward it, and only the rest is waited (a $batch pays it once)."""
    tenant = request.META.get(TENANT_OF_REQUEST)
    if tenant is not None and tenant.latency_ms:
        remaining = tenant.latency_ms / 1000 - (time.monotonic() - started)
        if remaining > 0:
            time.sleep(remaining)


def _check_permission(caller: Caller, app: Sequence[str], delegated: Sequence[str]) -> None:
    if caller.user is not None:
        granted = set(caller.claims.get("scp", "").split())
        allowed = delegated
    elif not app:
        raise bad_request("/me request is only valid with delegated authentication flow.")
    else:
        _check_graph_knows_the_application(caller)
        # The roles are those the token was issued with: a consent revoked (or a service principal disabled or
        # deleted) since then takes effect when the token expires, not before. Continuous access evaluation for
        # workload identities, which would end such a token at once, covers single-tenant applications only:
        # https://learn.microsoft.com/entra/identity/conditional-access/concept-continuous-access-evaluation-workload
        granted = set(caller.claims.get("roles", []))
        allowed = app
    if not granted & set(allowed):
        raise GraphProblem(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")


def _check_graph_knows_the_application(caller: Caller) -> None:
    """Right after consent, Graph may not know the service principal yet and refuses its tokens
    (see m365sim.propagation)."""
    if not caller.tenant.graph_propagation_seconds:
        return  # no such phase in this tenant: spare every request the lookup
    sp = ServicePrincipal.objects.filter(
        tenant=caller.tenant, application_id=str(caller.claims.get("appid", ""))
    ).first()
    if sp is not None and propagation.phase(sp, caller.tenant) == propagation.Phase.GRAPH:
        raise GraphProblem(401, "InvalidAuthenticationToken", "Access token validation failure.")
