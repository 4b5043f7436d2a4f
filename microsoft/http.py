"""The HTTP session the portal's Microsoft clients (MSAL and Graph) use.

Every call gets a timeout. In development and tests (MICROSOFT_SIMULATOR_URL set), calls to Microsoft's https
hosts go to the local simulator instead: MSAL accepts only https authorities, so the URL stays Microsoft's and
only the transport changes. Production never reroutes.
"""

from typing import Any, ClassVar

import requests
from django.conf import settings
from requests.adapters import BaseAdapter

LOGIN_HOST = "https://login.microsoftonline.com/"
GRAPH_HOST = "https://graph.microsoft.com/"


class MicrosoftSession(requests.Session):
    # Tests mount the simulator's in-process transport here (the m365sim pytest fixtures).
    transport_overrides: ClassVar[dict[str, BaseAdapter]] = {}

    def __init__(self, *, timeout: float | None = None, simulator_url: str | None = None) -> None:
        super().__init__()
        self.timeout = timeout if timeout is not None else settings.MICROSOFT_HTTP_TIMEOUT
        simulator = (settings.MICROSOFT_SIMULATOR_URL if simulator_url is None else simulator_url).rstrip("/")
        self.reroutes = {LOGIN_HOST: f"{simulator}/", GRAPH_HOST: f"{simulator}/graph/"} if simulator else {}
        if simulator:
            # The simulator is local: no proxy and no CA bundle from the environment apply to it.
            self.trust_env = False
        for prefix, adapter in self.transport_overrides.items():
            self.mount(prefix, adapter)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(str(method), self.reroute(str(url)), *args, **kwargs)

    def reroute(self, url: str) -> str:
        for prefix, target in self.reroutes.items():
            if url.startswith(prefix):
                return target + url.removeprefix(prefix)
        return url
