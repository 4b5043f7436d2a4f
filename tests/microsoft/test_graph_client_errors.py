"""How the Graph client reads Graph's answers (unit tests on `responses`, no simulator)."""

import datetime as dt
import email.utils

import pytest
import requests
import responses

from microsoft import errors
from microsoft.graph import GraphClient
from microsoft.identity import AppToken

BASE = "https://graph.microsoft.com/v1.0"


class Tokens:
    def __init__(self) -> None:
        self.calls: list[bool] = []

    def __call__(self, tenant_id: str, *, fresh: bool) -> AppToken:
        self.calls.append(fresh)
        return AppToken(tenant_id, f"token-{len(self.calls)}", dt.datetime.now(dt.UTC))


@pytest.fixture
def tokens() -> Tokens:
    return Tokens()


@pytest.fixture
def client(settings, tokens) -> GraphClient:
    settings.MICROSOFT_SIMULATOR_URL = ""  # talk to "Microsoft", which `responses` plays
    return GraphClient("tenant", token_provider=tokens)


def graph_error(status: int, code: str, **headers: str) -> dict:
    body = {"error": {"code": code, "message": f"{code} message", "innerError": {"request-id": "r"}}}
    return {"status": status, "json": body, "headers": headers}


@responses.activate
def test_a_401_is_retried_once_with_a_fresh_token(client, tokens):
    responses.get(f"{BASE}/organization", **graph_error(401, "InvalidAuthenticationToken"))
    responses.get(f"{BASE}/organization", json={"value": [{"id": "t", "displayName": "T", "verifiedDomains": []}]})

    assert client.tenant_details().id == "t"
    assert tokens.calls == [False, True]
    assert responses.calls[1].request.headers["Authorization"] == "Bearer token-2"


@responses.activate
def test_a_401_with_a_fresh_token_is_consent_revoked(client):
    responses.get(f"{BASE}/organization", **graph_error(401, "InvalidAuthenticationToken"))

    with pytest.raises(errors.ConsentRevoked):
        client.tenant_details()


@responses.activate
def test_a_403_is_permission_missing(client):
    responses.get(f"{BASE}/organization", **graph_error(403, "Authorization_RequestDenied"))

    with pytest.raises(errors.PermissionMissing) as excinfo:
        client.tenant_details()
    assert excinfo.value.code == "Authorization_RequestDenied"


@responses.activate
def test_retry_after_as_an_http_date(client):
    when = email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30), usegmt=True)
    responses.get(f"{BASE}/organization", **graph_error(429, "TooManyRequests", **{"Retry-After": when}))

    with pytest.raises(errors.Throttled) as excinfo:
        client.tenant_details()
    assert 25 < excinfo.value.retry_after <= 30


@responses.activate
def test_a_5xx_without_retry_after_or_json_is_transient(client):
    responses.get(f"{BASE}/organization", status=502, body="<html>Bad gateway</html>")

    with pytest.raises(errors.TransientError) as excinfo:
        client.tenant_details()
    assert not isinstance(excinfo.value, errors.Throttled)


@responses.activate
def test_a_timeout_is_transient(client):
    responses.get(f"{BASE}/organization", body=requests.Timeout())

    with pytest.raises(errors.TransientError):
        client.tenant_details()


@responses.activate
def test_every_call_has_a_timeout(client, settings):
    responses.get(f"{BASE}/organization", json={"value": [{"id": "t", "verifiedDomains": []}]})
    client.tenant_details()
    # responses records the request with the keyword arguments it was sent with; its stubs omit the attribute.
    assert responses.calls[0].request.req_kwargs["timeout"] == settings.MICROSOFT_HTTP_TIMEOUT  # type: ignore[attr-defined]


@responses.activate
def test_other_errors_are_graph_errors(client):
    responses.get(f"{BASE}/users", **graph_error(400, "Request_UnsupportedQuery"))

    with pytest.raises(errors.GraphError) as excinfo:
        client.users_page()
    assert (excinfo.value.status, excinfo.value.code) == (400, "Request_UnsupportedQuery")


@responses.activate
def test_an_expired_page_token_is_page_token_expired(client):
    next_link = f"{BASE}/users/delta?$skiptoken=old"
    responses.get(next_link, **graph_error(400, "Directory_ExpiredPageToken"))

    with pytest.raises(errors.PageTokenExpired) as excinfo:
        client.users_delta(next_link)
    assert (excinfo.value.status, excinfo.value.code) == (400, "Directory_ExpiredPageToken")


@responses.activate
def test_next_links_are_followed_as_returned(client):
    next_link = f"{BASE}/users?$skiptoken=opaque%2Btoken&$top=2"
    responses.get(f"{BASE}/users", json={"value": [{"id": "1"}, {"id": "2"}], "@odata.nextLink": next_link})
    responses.get(next_link, json={"value": [{"id": "3"}]})

    assert [u.id for u in client.iter_users(page_size=2)] == ["1", "2", "3"]
    assert responses.calls[1].request.url == next_link
