"""Microsoft's own clients, azure-identity and msgraph-sdk, pointed at the simulator on its live port.

How they reach it: the SDKs keep Microsoft's https URLs (authority login.microsoftonline.com, Graph base
https://graph.microsoft.com/v1.0, and the links Graph answers with), and only their bottom transports change.
`SimulatorAzureTransport` (azure-core, under azure-identity and MSAL) and `SimulatorHttpxTransport` (httpx,
under kiota's middleware: retry, redirect, telemetry) rewrite https://login.microsoftonline.com/... to
{simulator}/... and https://graph.microsoft.com/... to {simulator}/graph/..., the reroute the portal's own
session makes. Any other host is refused, so no request leaves the machine; the credential is built with
`disable_instance_discovery=True`, so MSAL asks no instance metadata of Microsoft either.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import requests
from azure.core.pipeline.transport import RequestsTransport
from azure.identity import ClientSecretCredential
from django.conf import settings
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph_core import GraphClientFactory

LOGIN = "https://login.microsoftonline.com/"
GRAPH = "https://graph.microsoft.com/"
GRAPH_BASE = "https://graph.microsoft.com/v1.0"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"

T = TypeVar("T")


class Reroute:
    """Microsoft's hosts to the simulator; remembers each URL as the SDK sent it."""

    def __init__(self, simulator_url: str) -> None:
        self.simulator = simulator_url.rstrip("/")
        self.sent: list[str] = []

    def __call__(self, url: str) -> str:
        self.sent.append(url)
        if url.startswith(LOGIN):
            return f"{self.simulator}/{url.removeprefix(LOGIN)}"
        if url.startswith(GRAPH):
            return f"{self.simulator}/graph/{url.removeprefix(GRAPH)}"
        raise AssertionError(f"a request for {url} would leave the machine")

    def graph_paths(self) -> list[str]:
        return [url.removeprefix(GRAPH_BASE) for url in self.sent if url.startswith(GRAPH)]


class SimulatorAzureTransport(RequestsTransport):
    def __init__(self, reroute: Reroute) -> None:
        session = requests.Session()
        session.trust_env = False  # no proxy from the environment for a local server
        super().__init__(session=session, session_owner=True)
        self.reroute = reroute

    def send(self, request: Any, **kwargs: Any) -> Any:
        # Retries send the same request again: it must keep Microsoft's URL.
        url = request.url
        request.url = self.reroute(url)
        try:
            return super().send(request, **kwargs)
        finally:
            request.url = url


class SimulatorHttpxTransport(httpx.AsyncBaseTransport):
    def __init__(self, reroute: Reroute) -> None:
        self.reroute = reroute
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # A copy: kiota's retry handler sends the same request again, and it must keep Microsoft's URL.
        url = httpx.URL(self.reroute(str(request.url)))
        headers = httpx.Headers(request.headers)
        headers["Host"] = url.netloc.decode("ascii")
        rerouted = httpx.Request(request.method, url, headers=headers, stream=request.stream)
        return await self.inner.handle_async_request(rerouted)

    async def aclose(self) -> None:
        await self.inner.aclose()


def credential(reroute: Reroute, tenant_id: str, **overrides: str) -> ClientSecretCredential:
    fields = {"client_id": str(settings.MICROSOFT_CLIENT_ID), "client_secret": str(settings.MICROSOFT_CLIENT_SECRET)}
    return ClientSecretCredential(
        tenant_id,
        **{**fields, **overrides},
        authority="login.microsoftonline.com",
        disable_instance_discovery=True,
        transport=SimulatorAzureTransport(reroute),
    )


def run_graph(
    reroute: Reroute, tenant_id: str, scenario: Callable[[GraphServiceClient], Awaitable[T]], **overrides: str
) -> T:
    """Runs `scenario` with a GraphServiceClient built as Microsoft's samples build one, on its own event loop."""

    async def main() -> T:
        http = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(transport=SimulatorHttpxTransport(reroute), trust_env=False)
        )
        auth = AzureIdentityAuthenticationProvider(credential(reroute, tenant_id, **overrides), scopes=[GRAPH_SCOPE])
        try:
            return await scenario(GraphServiceClient(request_adapter=GraphRequestAdapter(auth, client=http)))
        finally:
            await http.aclose()

    return asyncio.run(main())
