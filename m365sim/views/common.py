"""Error shapes and lookups shared by the simulator's endpoints."""

import datetime as dt
import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from m365sim.models import Domain, Tenant

MULTI_TENANT = frozenset({"organizations", "common"})


def resolve_tenant(value: str) -> Tenant | None:
    """`{tenant}` in a path: a GUID or a verified domain."""
    try:
        return Tenant.objects.filter(pk=uuid.UUID(value)).first()
    except ValueError:
        domain = Domain.objects.select_related("tenant").filter(name__iexact=value).first()
        return domain.tenant if domain else None


def aad_error(
    error: str, code: int, message: str, *, status: int = 400, headers: dict[str, str] | None = None
) -> JsonResponse:
    """The identity platform's error body.

    https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#error-response-1
    """
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    now = timezone.now()
    # The AADSTS code and message, then one line each for the trace, the correlation and the time.
    # Token Issuance Endpoint Errors: https://learn.microsoft.com/previous-versions/azure/dn645548(v=azure.100)
    description = (
        f"AADSTS{code}: {message}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\n"
        f"Timestamp: {now:%Y-%m-%d %H:%M:%SZ}"
    )
    body = {
        "error": error,
        "error_description": description,
        "error_codes": [code],
        "timestamp": now.strftime("%Y-%m-%d %H:%M:%SZ"),
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }
    return JsonResponse(body, status=status, headers=headers)


def graph_error(
    status: int,
    code: str,
    message: str,
    *,
    request_id: str,
    client_request_id: str,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    """Graph's error body. https://learn.microsoft.com/graph/errors"""
    body: dict[str, Any] = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": timezone.now().astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": client_request_id,
            },
        }
    }
    return JsonResponse(body, status=status, headers=headers)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The simulator's own 404: never the portal's templates, whose links name the portal's URLs."""
    return HttpResponse("Not found in the Microsoft 365 simulator.", status=404, content_type="text/plain")


def server_error(request: HttpRequest) -> HttpResponse:
    return HttpResponse("The Microsoft 365 simulator failed; see its log.", status=500, content_type="text/plain")
