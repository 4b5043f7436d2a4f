"""CSRF on every POST, no open redirect through any `next`, a new session on login, security headers everywhere."""

import json
import re
import uuid

import pytest
from django.test import Client
from django.urls import get_resolver, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from tests.casportal.test_settings import PRODUCTION_ENV, run_manage
from tests.factories import PASSWORD, UserFactory
from tests.organizations.test_url_scoping import _walk, url_values  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db

EXTERNAL = [
    "https://evil.example/steal",
    "//evil.example/steal",
    "/\\evil.example/steal",
    "https:evil.example",
    "javascript:alert(1)",
    "http://evil.example@testserver/",
]


def every_route(values: dict[str, str]) -> list[str]:
    def substitute(match: re.Match) -> str:
        converter, _, name = match.group(1).rpartition(":")
        if name in values:
            return values[name]
        return str(uuid.uuid4()) if converter == "uuid" else "x1"

    routes = []
    for route in _walk(get_resolver().url_patterns):
        if route.startswith("^") or "(?P" in route:  # admin's regex routes: covered by their own prefix
            continue
        routes.append("/" + re.sub(r"<([^>]+)>", substitute, route))
    return routes


def test_every_post_without_a_csrf_token_is_refused(cast, url_values):  # noqa: F811
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.owner.user)
    routes = every_route(url_values)
    assert len(routes) >= 40
    accepted = []
    for url in routes:
        status = client.post(url, data={"role": "admin", "enabled": "1", "email": "x@example.com"}).status_code
        if status != 403:
            accepted.append((url, status))
    assert accepted == []


def test_anonymous_posts_without_a_csrf_token_are_refused(cast):
    client = Client(enforce_csrf_checks=True)
    for url in ("/accounts/login/", "/accounts/signup/", "/accounts/password/reset/", "/accounts/logout/"):
        assert client.post(url, {"login": cast.owner.user.email, "password": PASSWORD}).status_code == 403


def _not_external(location: str) -> bool:
    """Where the browser goes: nowhere, or this site (an external URL nested in a query string is not followed)."""
    return not location or url_has_allowed_host_and_scheme(location, allowed_hosts={"testserver"})


@pytest.mark.parametrize("target", EXTERNAL)
def test_login_never_follows_an_external_next(cast, target):
    client = Client()
    response = client.post(
        f"{reverse('account_login')}?next={target}", {"login": cast.owner.user.email, "password": PASSWORD}
    )
    assert response.status_code == 302
    assert _not_external(response["Location"]), response["Location"]
    response = client.post(
        reverse("account_login"), {"login": cast.owner.user.email, "password": PASSWORD, "next": target}
    )
    assert _not_external(response.get("Location", "")), response.get("Location")


@pytest.mark.parametrize("target", EXTERNAL)
def test_logout_and_admin_login_never_follow_an_external_next(cast, target):
    client = Client()
    client.force_login(cast.owner.user)
    response = client.post(reverse("account_logout"), {"next": target})
    assert _not_external(response.get("Location", "")), response.get("Location")
    response = Client().get(f"/admin/login/?next={target}")
    assert _not_external(response.get("Location", "")), response.get("Location")
    staff = UserFactory.create(email=f"staff{uuid.uuid4().hex[:6]}@casportal.test", is_staff=True)
    response = Client().post(f"/admin/login/?next={target}", {"login": staff.email, "password": PASSWORD})
    assert _not_external(response.get("Location", "")), response.get("Location")


@pytest.mark.parametrize("target", EXTERNAL)
def test_invitation_and_organization_pages_ignore_an_external_next(cast, target):
    client = Client()
    response = client.get(f"/invitations/not-a-token/?next={target}")
    assert _not_external(response.get("Location", ""))
    client.force_login(cast.owner.user)
    for url in ("/", f"/o/{cast.organization.slug}/", "/organizations/", "/account/"):
        response = client.get(f"{url}?next={target}")
        assert _not_external(response.get("Location", "")), (url, response.get("Location"))
    # Signed out: the login redirect carries the page, never the attacker's URL as the destination.
    response = Client().get(f"/o/{cast.organization.slug}/?next={target}")
    location = response["Location"]
    assert location.startswith("/accounts/login/")


def test_login_rotates_the_session_key(cast):
    client = Client()
    client.get(reverse("account_login"))
    session = client.session
    session["probe"] = "before"
    session.save()
    before = client.session.session_key
    response = client.post(reverse("account_login"), {"login": cast.owner.user.email, "password": PASSWORD})
    assert response.status_code == 302
    after = client.session.session_key
    assert after
    assert after != before


HEADERS = {
    "Content-Security-Policy": None,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


def test_security_headers_on_every_response(cast, url_values):  # noqa: F811
    signed_in = Client()
    signed_in.force_login(cast.owner.user)
    checked = 0
    for client in (Client(), signed_in):
        for url in [*every_route(url_values), "/static/does-not-exist.css", "/no/such/page/"]:
            response = client.get(url)
            for header, value in HEADERS.items():
                assert header in response.headers, f"{header} missing on GET {url} ({response.status_code})"
                if value:
                    assert response.headers[header] == value, (url, header)
            assert "default-src" in response.headers["Content-Security-Policy"]
            checked += 1
    assert checked >= 80


PROBE = """
import json
from django.test import Client
client = Client(HTTP_HOST="portal.example.com")
secure = client.get("/healthz", secure=True)
plain = client.get("/accounts/login/", secure=False)
print(json.dumps({"secure": dict(secure.headers), "plain_status": plain.status_code,
                  "plain_location": plain.get("Location", "")}))
"""


def test_hsts_and_https_redirect_under_production_settings():
    result = run_manage("shell", "-c", PROBE, extra_env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr[-2000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    hsts = seen["secure"].get("Strict-Transport-Security", "")
    assert "max-age=31536000" in hsts
    assert "includeSubDomains" in hsts
    assert "preload" in hsts
    for header, value in HEADERS.items():
        assert header in seen["secure"]
        if value:
            assert seen["secure"][header] == value
    assert seen["plain_status"] == 301
    assert seen["plain_location"].startswith("https://portal.example.com/")
