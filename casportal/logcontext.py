"""Context for log lines: the organization, the request or task id and the sync run, wherever they apply.

Fields live in a ContextVar, so they follow a request or a task without being passed around, and
`ContextFilter` copies them onto every record (python-json-logger then writes them as JSON keys).
`RedactSecretsFilter` is the last line of defence: configured secrets and bearer tokens never reach a log.
"""

import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import Any

from celery.signals import task_postrun, task_prerun
from django.conf import settings
from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

_EMPTY: MappingProxyType[str, object] = MappingProxyType({})
_fields: ContextVar[MappingProxyType[str, object]] = ContextVar("log_fields", default=_EMPTY)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+")
REDACTED = "[redacted]"


@contextmanager
def bind(**fields: object) -> Iterator[None]:
    """Add fields to every log line written inside the block (and restore the outer ones after it)."""
    token = _set(**fields)
    try:
        yield
    finally:
        _fields.reset(token)


def _set(**fields: object) -> Token[MappingProxyType[str, object]]:
    return _fields.set(MappingProxyType({**_fields.get(), **fields}))


# Shorter configured values (an empty or toy setting) would redact ordinary words from every line.
MIN_SECRET_LENGTH = 8


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _fields.get().items():
            setattr(record, name, value)
        return True


class RedactSecretsFilter(logging.Filter):
    """Replaces the values of secret settings and bearer tokens in the formatted message."""

    SECRET_SETTINGS = ("SECRET_KEY", "MICROSOFT_CLIENT_SECRET", "EMAIL_HOST_PASSWORD", "METRICS_TOKEN")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _BEARER.sub(rf"\1{REDACTED}", message)
        for secret in self._secrets():
            redacted = redacted.replace(secret, REDACTED)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True

    def _secrets(self) -> list[str]:
        if not settings.configured:
            return []
        values = [getattr(settings, name, None) for name in self.SECRET_SETTINGS]
        values += getattr(settings, "FIELD_ENCRYPTION_KEYS", [])
        return [value for value in values if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH]


class RequestContextMiddleware:
    """Binds a request id (the proxy's X-Request-ID when sane, else a new one) and the organization in the URL.

    The fields stay set until `request_finished`, not just until this middleware returns: Django logs 4xx and 5xx
    answers ("Not Found: ...") after the middleware chain, and those lines need the ids most.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        _fields.set(MappingProxyType({"request_id": request_id}))
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response

    def process_view(  # Django's middleware signature: only the URL's keyword arguments are read
        self,
        request: HttpRequest,  # noqa: ARG002
        view_func: Callable[..., Any],  # noqa: ARG002
        view_args: tuple[Any, ...],  # noqa: ARG002
        view_kwargs: dict,
    ) -> None:
        if "org_slug" in view_kwargs:  # organization pages: /o/<org_slug>/...
            _set(organization=view_kwargs["org_slug"])


@receiver(request_finished)
def _clear_request_fields(**_: Any) -> None:
    _fields.set(_EMPTY)


# Celery: every line a task writes carries its id. A prefork child runs one task at a time.
_task_tokens: dict[str, Token[MappingProxyType[str, object]]] = {}


@task_prerun.connect
def _bind_task(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    if task_id:
        _task_tokens[task_id] = _set(task_id=task_id, task=getattr(task, "name", None))


@task_postrun.connect
def _unbind_task(task_id: str | None = None, **_: Any) -> None:
    token = _task_tokens.pop(task_id or "", None)
    if token is not None:
        _fields.reset(token)
