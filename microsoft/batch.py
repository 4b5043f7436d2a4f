"""Graph JSON batching: up to 20 GET requests in one `POST /$batch`. Each request is answered on its own, in any
order (matched by id), with its own status; one throttled request answers 429 with its own Retry-After while the
others succeed (https://learn.microsoft.com/graph/json-batching, "Throttling and batching")."""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import requests
from django.conf import settings

from microsoft import request_counts as metrics_store
from microsoft.errors import TransientError
from microsoft.graph import DEFAULT_RETRY_AFTER, GraphClient, _parse

MAX_REQUESTS = 20  # "JSON batch requests are currently limited to 20 individual requests"


@dataclass(frozen=True)
class Answer:
    """One request's answer inside a batch: its status, Graph's error code and message when it failed."""

    status: int
    code: str = ""
    message: str = ""
    retry_after: float | None = None  # a throttled request's own Retry-After

    @property
    def throttled(self) -> bool:
        return self.status == HTTPStatus.TOO_MANY_REQUESTS

    @property
    def answer(self) -> str:
        """Microsoft's answer in its own words, led by its code."""
        return f"{self.code}: {self.message}" if self.code else self.message


def send(client: GraphClient, urls: Mapping[str, str]) -> dict[str, Answer]:
    """GET each of `urls` (id → path relative to the Graph version) in one batch; the answers by id.

    A batch refused as a whole (401 after a fresh token, 403, 429, 5xx) raises as a single request would."""
    if not 0 < len(urls) <= MAX_REQUESTS:
        raise ValueError(f"a batch holds 1 to {MAX_REQUESTS} requests, not {len(urls)}")
    body = {"requests": [{"id": key, "method": "GET", "url": f"/{path.lstrip('/')}"} for key, path in urls.items()]}
    for attempt in range(2):
        token = client.token_provider(client.tenant_id, fresh=attempt > 0 or client.fresh_token)
        try:
            response = client.session.post(
                f"{settings.GRAPH_BASE_URL}/$batch",
                json=body,
                headers={"Authorization": f"Bearer {token.access_token}", "client-request-id": str(uuid.uuid4())},
            )
        except requests.RequestException as exc:
            raise TransientError(f"Microsoft Graph unreachable: {exc.__class__.__name__}") from exc
        metrics_store.count_graph_request(response.status_code)
        if response.status_code == HTTPStatus.UNAUTHORIZED and attempt == 0:
            continue
        parsed = _parse(response)
        return {str(item.get("id")): _answer(item) for item in parsed.get("responses", ())}
    raise AssertionError("unreachable")


def _answer(item: dict[str, Any]) -> Answer:
    status = int(item.get("status") or 0)
    body = item.get("body") if isinstance(item.get("body"), dict) else {}
    error = body.get("error") if isinstance(body, dict) else None
    code = str(error.get("code", "")) if isinstance(error, dict) else ""
    message = str(error.get("message", "")) if isinstance(error, dict) else ""
    retry_after = None
    if status == HTTPStatus.TOO_MANY_REQUESTS:
        headers = {str(k).lower(): str(v) for k, v in (item.get("headers") or {}).items()}
        value = headers.get("retry-after", "")
        retry_after = float(value) if value.isdigit() else DEFAULT_RETRY_AFTER
    return Answer(status=status, code=code, message=message, retry_after=retry_after)
