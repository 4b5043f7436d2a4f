"""Driving a grant end to end: the portal through Django's test client, Microsoft through the simulator.

A pytest plugin (see tests/conftest.py): `driver` is available to every test."""

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
import requests
from django.test import Client

from tests.cast import Cast, TaskQueue
from tests.m365sim.browser import sign_in, submit

PORTAL = "http://127.0.0.1:8000"
GLOBAL_ADMIN = "admin@contoso.onmicrosoft.com"


def portal_client(user) -> Client:
    # The simulator's app registration knows the portal's callbacks on 127.0.0.1:8000.
    client = Client(HTTP_HOST="127.0.0.1:8000")
    client.force_login(user)
    return client


@dataclass
class GrantDriver:
    client: Client
    browser: requests.Session
    capture: object
    tasks: TaskQueue
    org: str

    def portal(self, method: str, url: str, data: dict | None = None):
        if url.startswith(PORTAL):
            url = url.removeprefix(PORTAL)
        with self.capture(execute=True):  # type: ignore[operator]
            return getattr(self.client, method)(url, data or {})

    def start(self, kind: str = "exchange-online", *, policy: str = "", mode: str = "all"):
        return self.portal("post", f"/o/{self.org}/services/{kind}/grant/", {"policy": policy, "sync_mode": mode})

    def consent(self, consent_url: str, login: str = GLOBAL_ADMIN, action: str = "accept") -> str:
        """Sign in (when Microsoft has no session) and answer the consent page; where Microsoft sends the browser."""
        page = self.browser.get(consent_url)
        assert page.status_code == 200, re.sub(r"<[^>]+>|\s+", " ", page.text)[-800:]
        if "Sign in" in page.text:
            page = sign_in(self.browser, page, login)
        response = submit(self.browser, page, action)
        assert response.status_code == 302, response.text[:500]
        return response.headers["Location"]

    def at_microsoft(self, url: str, login: str = GLOBAL_ADMIN) -> str:
        """Follow an authorize URL until Microsoft redirects back to the portal (signing in when asked)."""
        response = self.browser.get(url, allow_redirects=False)
        if response.status_code == 200 and "Sign in" in response.text:
            response = sign_in(self.browser, response, login)
        assert response.status_code == 302, response.text[:500]
        return response.headers["Location"]

    def grant(self, kind: str = "exchange-online", *, policy: str = "", mode: str = "all", login: str = GLOBAL_ADMIN):
        """Grant Permission, Sign in, Accept and both callbacks; the portal's last response."""
        started = self.start(kind, policy=policy, mode=mode)
        assert started.status_code == 302, started.content.decode()[:1000]
        consent_callback = self.consent(started["Location"], login)
        after_consent = self.portal("get", consent_callback)
        if after_consent.status_code != 302 or urlsplit(after_consent["Location"]).path.startswith("/o/"):
            return after_consent
        identity_callback = self.at_microsoft(after_consent["Location"], login)
        return self.portal("get", identity_callback)


@pytest.fixture
def driver(cast: Cast, m365sim, contoso, django_capture_on_commit_callbacks, task_queue) -> GrantDriver:  # noqa: ARG001 (needed for its side effect: fixtures cannot take usefixtures)
    return GrantDriver(
        client=portal_client(cast.owner.user),
        browser=m365sim.browser(),
        capture=django_capture_on_commit_callbacks,
        tasks=task_queue,
        org=cast.organization.slug,
    )
