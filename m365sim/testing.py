"""Reaching the simulator from tests: in-process through a requests transport, or on a live localhost port."""

import email.message
import io
import sys
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from django.conf import settings
from django.core.servers.basehttp import ThreadedWSGIServer
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connections
from django.test.testcases import QuietWSGIRequestHandler
from requests.adapters import BaseAdapter, HTTPAdapter
from urllib3 import HTTPResponse

from m365sim.wsgi import SimulatorHandler

IN_PROCESS_URL = "http://m365sim.test"


class _OriginalResponse:
    """What requests reads Set-Cookie headers from (http.client's message), for a response built in memory."""

    def __init__(self, headers: Iterable[tuple[str, str]]) -> None:
        self.msg = email.message.Message()
        for name, value in headers:
            self.msg[name] = value

    def isclosed(self) -> bool:
        return True


class WSGITransport(BaseAdapter):
    """A requests transport that calls the simulator's WSGI application directly: no socket, no thread."""

    def __init__(self, app: SimulatorHandler | None = None) -> None:
        super().__init__()
        self.app = app or SimulatorHandler()

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        url = urlsplit(request.url or "")
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        assert isinstance(body, bytes), "the simulator's clients never stream request bodies"
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(url.path),
            "QUERY_STRING": url.query,
            "SERVER_NAME": url.hostname or "localhost",
            "SERVER_PORT": str(url.port or (443 if url.scheme == "https" else 80)),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": url.scheme,
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_HOST": url.netloc,
        }
        for name, value in request.headers.items():
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ[key] = value
            elif key != "CONTENT_LENGTH":
                environ[f"HTTP_{key}"] = value

        started: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], _exc_info: Any = None) -> Any:
            started["status"], started["headers"] = status, headers
            return None

        # As Django's test client does: the request signals must not close the test's database connections.
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            result = self.app(environ, start_response)
            try:
                content = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close:
                    close()
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)
        status, reason = started["status"].split(" ", 1)
        raw = HTTPResponse(
            body=io.BytesIO(content),
            headers=started["headers"],
            status=int(status),
            reason=reason,
            preload_content=False,
            original_response=_OriginalResponse(started["headers"]),  # type: ignore[arg-type]
        )
        return HTTPAdapter().build_response(request, raw)

    def close(self) -> None:
        pass


class LiveSimulator:
    """The simulator on a live localhost port, in a thread, for browsers and other processes."""

    def __init__(self, host: str = "localhost", port: int = 0) -> None:
        # Share in-memory SQLite test databases with the server thread, as Django's LiveServerTestCase does.
        self._shared = {
            conn.alias: conn
            for conn in connections.all()
            if conn.vendor == "sqlite" and conn.is_in_memory_db()  # type: ignore[attr-defined]
        }
        self.server = ThreadedWSGIServer(
            (host, port), QuietWSGIRequestHandler, allow_reuse_address=False, connections_override=self._shared
        )
        self.server.set_app(SimulatorHandler())
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="m365sim-live", daemon=True)

    def start(self) -> "LiveSimulator":
        for conn in self._shared.values():
            conn.inc_thread_sharing()
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()
        for conn in self._shared.values():
            conn.dec_thread_sharing()


class SimulatorClient:
    """A browser-like session and the control API, against one running (or in-process) simulator."""

    def __init__(self, url: str, transport: BaseAdapter | None = None) -> None:
        self.url, self.transport = url, transport

    def browser(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False
        if self.transport is not None:
            session.mount(f"{self.url}/", self.transport)
        return session

    def control_session(self) -> requests.Session:
        """A session that carries the control API's token, as a script of the developer's would."""
        session = self.browser()
        session.headers["Authorization"] = f"Bearer {settings.M365SIM_CONTROL_TOKEN}"
        return session

    def control(self, method: str, path: str, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
        response = self.control_session().request(
            method, f"{self.url}/_m365sim/{path}", json=dict(payload or {}) if method == "POST" else payload, timeout=10
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    # Mailboxes, drives, application access policies and $batch throttling (see the README's control API).

    def directory(self, tenant: str, op: str, **fields: Any) -> dict[str, Any]:
        return self.control("POST", f"tenants/{tenant}/directory", {"op": op, **fields})

    def set_mailbox(
        self, tenant: str, user: str, state: str, *, ready_in_seconds: float | None = None
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {"user": user, "state": state}
        if ready_in_seconds is not None:
            fields["ready_in_seconds"] = ready_in_seconds
        return self.directory(tenant, "set_mailbox", **fields)

    def set_drive(self, tenant: str, user: str, state: str) -> dict[str, Any]:
        return self.directory(tenant, "set_drive", user=user, state=state)

    def apply_access_policy(
        self,
        tenant: str,
        group: str,
        access_right: str = "RestrictAccess",
        *,
        client_id: str | None = None,
        delay_seconds: float | None = None,
    ) -> dict[str, Any]:
        """The policy applied, as the control API describes it (its "id" lifts it)."""
        payload: dict[str, Any] = {"action": "apply", "group": group, "access_right": access_right}
        if client_id is not None:
            payload["client_id"] = client_id
        if delay_seconds is not None:
            payload["delay_seconds"] = delay_seconds
        policy: dict[str, Any] = self.control("POST", f"tenants/{tenant}/access-policies", payload)["policy"]
        return policy

    def lift_access_policy(self, tenant: str, policy_id: int, *, delay_seconds: float | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"action": "lift", "policy": policy_id}
        if delay_seconds is not None:
            payload["delay_seconds"] = delay_seconds
        policy: dict[str, Any] = self.control("POST", f"tenants/{tenant}/access-policies", payload)["policy"]
        return policy

    def throttle_batch_items(self, tenant: str, count: int, *, retry_after: int | None = None) -> dict[str, Any]:
        """The next `count` requests inside a $batch answer 429 (with Retry-After: retry_after, when given)."""
        faults: dict[str, Any] = {"batch_throttle_next": count}
        if retry_after is not None:
            faults["throttle_retry_after"] = retry_after
        return self.control("POST", f"tenants/{tenant}/faults", faults)
