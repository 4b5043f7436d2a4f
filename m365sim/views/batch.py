"""Microsoft Graph JSON batching: `POST /v1.0/$batch` with up to 20 requests, each run as if sent alone.

Combine multiple HTTP requests using JSON batching: https://learn.microsoft.com/graph/json-batching
Throttling and batching: https://learn.microsoft.com/graph/throttling#throttling-and-batching
"""

import json
import time
import uuid
from http import HTTPStatus
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import RequestFactory
from django.urls import resolve
from django.views.decorators.http import require_POST

from m365sim import services
from m365sim.views.common import graph_error
from m365sim.views.graph_request import (
    BATCH_ITEM,
    BATCH_MAILBOXES,
    ODATA_JSON,
    GraphProblem,
    answer_after_latency,
    authenticate,
)

# "JSON batch requests are currently limited to 20 individual requests."
MAX_REQUESTS = 20
# The headers of an item's response worth passing on (Graph's own set varies by workload).
ITEM_HEADERS = ("Content-Type", "OData-Version", "Retry-After", "x-ms-throttle-limit-percentage")
_FACTORY = RequestFactory()


def _problem(message: str) -> GraphProblem:
    # "If the batch request itself is malformed, the status code is 400." Microsoft documents the status, not
    # the messages: these are the simulator's.
    return GraphProblem(400, "BadRequest", message)


def _parse(request: HttpRequest) -> list[dict[str, Any]]:
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        raise _problem("Invalid batch payload format: the body is not JSON.") from None
    items = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise _problem("Invalid batch payload format: send a JSON object with a non-empty 'requests' array.")
    if len(items) > MAX_REQUESTS:
        raise _problem(f"The batch holds {len(items)} requests; the limit is {MAX_REQUESTS}.")
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) and item[k] for k in ("id", "url")):
            raise _problem("Each request in a batch needs a string 'id', 'method' and 'url'.")
        if not isinstance(item.get("method"), str):
            raise _problem("Each request in a batch needs a string 'id', 'method' and 'url'.")
        # "Not case-sensitive. Must be unique in the batch, otherwise, the batch request fails with a 400."
        key = item["id"].casefold()
        if key in seen:
            raise _problem(f"The request id '{item['id']}' appears more than once in the batch.")
        seen.add(key)
    ids = {item["id"].casefold() for item in items}
    for item in items:
        depends = item.get("dependsOn", [])
        if not isinstance(depends, list) or any(not isinstance(d, str) or d.casefold() not in ids for d in depends):
            raise _problem(f"Request '{item['id']}': dependsOn must name other requests of the batch.")
    return _in_dependency_order(items)


def _in_dependency_order(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The requests in the order given, each after the requests it depends on ("dependsOn")."""
    ordered: list[dict[str, Any]] = []
    done: set[str] = set()
    while len(ordered) < len(items):
        ready = [
            item
            for item in items
            if item["id"].casefold() not in done and all(d.casefold() in done for d in item.get("dependsOn", []))
        ]
        if not ready:
            raise _problem("The requests' dependsOn form a cycle.")
        ordered += ready
        done |= {item["id"].casefold() for item in ready}
    return ordered


def _run(
    request: HttpRequest, item: dict[str, Any], mailboxes: dict[Any, int] | None
) -> tuple[int, dict[str, str], Any]:
    url = item["url"].lstrip("/")
    if "://" in url:
        url = url.split("/v1.0/", 1)[-1]
    headers = {str(k): str(v) for k, v in (item.get("headers") or {}).items()}
    sub = _FACTORY.generic(
        item["method"].upper(),
        f"/graph/v1.0/{url}",
        json.dumps(item["body"]) if "body" in item else "",
        content_type=headers.get("Content-Type", "application/json"),
        headers={**headers, "Authorization": request.headers.get("Authorization", "")},
    )
    sub.META[BATCH_ITEM] = True
    if mailboxes is not None:
        sub.META[BATCH_MAILBOXES] = mailboxes
    match = resolve(sub.path_info, urlconf="m365sim.urls")
    response: HttpResponse = match.func(sub, *match.args, **match.kwargs)
    if response.status_code == HTTPStatus.METHOD_NOT_ALLOWED and not response.content:
        # As Graph answers a method an endpoint does not take (the JSON batching page's example).
        return (
            405,
            {"Content-Type": "application/json"},
            {
                "error": {
                    "code": "Request_BadRequest",
                    "message": "Specified HTTP method is not allowed for the request target.",
                }
            },
        )
    out_headers = {name: response[name] for name in ITEM_HEADERS if response.has_header(name)}
    return response.status_code, out_headers, json.loads(response.content) if response.content else None


@require_POST
def batch(request: HttpRequest) -> HttpResponse:
    started = time.monotonic()
    request_id = str(uuid.uuid4())
    client_request_id = request.headers.get("client-request-id", request_id)
    try:
        authenticate(request, "$batch", throttle=False)
        items = _parse(request)
    except GraphProblem as problem:
        response: HttpResponse = graph_error(
            problem.status,
            problem.code,
            problem.message,
            request_id=request_id,
            client_request_id=client_request_id,
            headers=problem.headers,
        )
    else:
        statuses: dict[str, int] = {}
        answers = []
        # Without dependsOn Graph runs a batch's requests in parallel ("Batch should be either fully sequential
        # or fully parallel"), so requests to one mailbox count against Outlook's concurrency limit together.
        parallel = not any(item.get("dependsOn") for item in items)
        mailboxes: dict[Any, int] | None = {} if parallel else None
        # Run in the order given (a dependency comes before its dependants when the batch is sequential).
        with services.counted_together():
            for item in items:
                failed = [
                    d
                    for d in item.get("dependsOn", [])
                    if statuses.get(d.casefold(), HTTPStatus.FAILED_DEPENDENCY) >= HTTPStatus.BAD_REQUEST
                ]
                if failed:
                    # "If an individual request fails, any request that depends on that request fails with status
                    # code 424 (Failed Dependency)."
                    status, headers, body = (
                        424,
                        {"Content-Type": "application/json"},
                        {"error": {"code": "FailedDependency", "message": f"Request '{failed[0]}' failed."}},
                    )
                else:
                    status, headers, body = _run(request, item, mailboxes)
                statuses[item["id"].casefold()] = status
                answers.append({"id": item["id"], "status": status, "headers": headers, "body": body})
        # "Individual responses might appear in a different order than the requests": the simulator answers in
        # reverse order, so that a client that correlates by position fails at once.
        response = JsonResponse({"responses": answers[::-1]})
        response["Content-Type"] = ODATA_JSON
        response["OData-Version"] = "4.0"
    response["request-id"] = request_id
    response["client-request-id"] = client_request_id
    answer_after_latency(request, started)
    return response
