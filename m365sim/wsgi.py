"""The simulator as its own WSGI application: its own URLconf and no portal middleware (sessions, CSRF, auth).

It keeps its state in signed cookies of its own (ESTSAUTH, m365sim_browser), so nothing collides with the portal's.
"""

from typing import Any

from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest
from django.http import HttpResponseBase
from django.urls import get_urlconf, set_urlconf

URLCONF = "m365sim.urls"


class SimulatorHandler(WSGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:  # noqa: ARG002 (Django's signature)
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        self._middleware_chain = convert_exception_to_response(self._get_response)  # type: ignore[attr-defined]

    def get_response(self, request: WSGIRequest) -> HttpResponseBase:  # type: ignore[override]
        # In tests the simulator runs inside a portal request: give the portal its URLconf back afterwards.
        previous = get_urlconf()
        request.urlconf = URLCONF  # type: ignore[attr-defined]
        try:
            return super().get_response(request)
        finally:
            set_urlconf(previous)
