"""The request an audit event comes from, set by middleware so service functions need not pass it."""

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    ip_address: str | None
    user_agent: str


current_request: ContextVar[RequestContext | None] = ContextVar("audit_request_context", default=None)
