"""Graph JSON batching in the simulator: the 20-request limit, each request authorized and throttled on its own,
429 answers with Retry-After inside a 200 batch, dependsOn, and answers in another order than the requests."""

import itertools

import pytest

from m365sim import services as sim
from m365sim.models import ServicePrincipal, User
from m365sim.views import graph_request
from tests.m365sim.tokens import app_token

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])

ALEX = "alex@contoso.onmicrosoft.com"


@pytest.fixture
def batch(m365sim, contoso_consented):
    token = app_token(m365sim, str(contoso_consented.id))
    browser = m365sim.browser()

    def post(requests: list[dict] | None = None, *, body: object = None, token: str = token):
        payload = {"requests": requests} if body is None else body
        return browser.post(
            f"{m365sim.url}/graph/v1.0/$batch", json=payload, headers={"Authorization": f"Bearer {token}"}
        )

    return post


def inbox_requests(count: int, user: str = ALEX) -> list[dict]:
    return [
        {"id": str(n), "method": "GET", "url": f"/users/{user}/mailFolders/inbox?$select=id"}
        for n in range(1, count + 1)
    ]


def by_id(response) -> dict[str, dict]:
    assert response.status_code == 200, response.text
    return {answer["id"]: answer for answer in response.json()["responses"]}


def twenty_mailboxes() -> list[dict]:
    users = User.objects.order_by("id")[:20]
    return [
        {"id": str(n), "method": "GET", "url": f"/users/{user.id}/mailFolders/inbox?$select=id"}
        for n, user in enumerate(users, start=1)
    ]


def test_twenty_requests_answer_each_in_reverse_order(batch, m365sim):
    m365sim.control("DELETE", "tenants/contoso/requests")
    User.objects.update(mailbox="provisioned")
    response = batch(twenty_mailboxes())
    answers = response.json()["responses"]
    assert [a["id"] for a in answers] == [str(n) for n in range(20, 0, -1)]
    assert all(a["status"] == 200 and set(a["body"]) == {"@odata.context", "id"} for a in answers)
    assert answers[0]["headers"]["Content-Type"].startswith("application/json")
    counts = m365sim.control("GET", "tenants/contoso/requests")["requests"]
    assert (counts["$batch"], counts["user.mailFolder"]) == (1, 20)


def test_more_than_four_parallel_requests_to_one_mailbox_are_over_its_concurrency_limit(batch):
    answers = by_id(batch(inbox_requests(6)))
    assert [answers[n]["status"] for n in "123456"] == [200, 200, 200, 200, 429, 429]
    error = answers["5"]["body"]["error"]
    assert (error["code"], error["message"]) == (
        "ApplicationThrottled",
        "Application is over its MailboxConcurrency limit.",
    )
    assert answers["5"]["headers"]["Retry-After"]
    # In sequence (dependsOn), one at a time: no limit reached.
    sequential = inbox_requests(6)
    for before, item in itertools.pairwise(sequential):
        item["dependsOn"] = [before["id"]]
    assert {a["status"] for a in by_id(batch(sequential)).values()} == {200}


def test_more_than_twenty_requests_are_refused_whole(batch):
    response = batch(inbox_requests(21))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BadRequest"
    assert "20" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"requests": []},
        {"nothing": 1},
        [1, 2],
        {"requests": [{"id": "1", "method": "GET"}]},
        {"requests": [{"id": "a", "method": "GET", "url": "/teams"}, {"id": "A", "method": "GET", "url": "/teams"}]},
        {"requests": [{"id": "1", "method": "GET", "url": "/teams", "dependsOn": ["9"]}]},
    ],
)
def test_a_malformed_batch_is_400(batch, body):
    response = batch(body=body)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "BadRequest")


def test_a_batch_needs_a_valid_token(batch):
    response = batch(inbox_requests(1), token="not-a-token")
    assert (response.status_code, response.json()["error"]["code"]) == (401, "InvalidAuthenticationToken")


def test_some_requests_throttled_answer_429_with_retry_after_inside_a_200_batch(batch, m365sim):
    User.objects.update(mailbox="provisioned")
    m365sim.throttle_batch_items("contoso", 3, retry_after=7)
    answers = by_id(batch(twenty_mailboxes()[:10]))
    throttled = [a for a in answers.values() if a["status"] == 429]
    assert [a["id"] for a in throttled] == ["3", "2", "1"]
    assert all(a["headers"]["Retry-After"] == "7" for a in throttled)
    assert throttled[0]["body"]["error"]["code"] == "TooManyRequests"
    assert sum(a["status"] == 200 for a in answers.values()) == 7
    # Retried, the throttled ones now succeed.
    retry = [r for r in twenty_mailboxes() if r["id"] in {"1", "2", "3"}]
    assert {a["status"] for a in by_id(batch(retry)).values()} == {200}


def test_the_tenants_throttling_applies_to_each_request_not_to_the_batch(batch, m365sim):
    m365sim.control("POST", "tenants/contoso/faults", {"throttle_next": 2, "throttle_retry_after": 3})
    answers = by_id(batch(inbox_requests(4)))
    assert [answers[n]["status"] for n in "1234"] == [429, 429, 200, 200]
    assert answers["1"]["headers"]["Retry-After"] == "3"


def test_each_request_is_authorized_and_answers_on_its_own(batch, m365sim, contoso_consented):
    ServicePrincipal.objects.update(granted_roles=["Mail.ReadWrite", "User.Read.All"])
    token = app_token(m365sim, str(contoso_consented.id))
    m365sim.set_mailbox("contoso", "admin@contoso.onmicrosoft.com", "on_premises")
    requests = [
        {"id": "mail", "method": "GET", "url": f"/users/{ALEX}/mailFolders/inbox?$select=id"},
        {"id": "drive", "method": "GET", "url": f"users/{ALEX}/drive?$select=id"},
        {"id": "none", "method": "GET", "url": "/users/admin@contoso.onmicrosoft.com/mailFolders/inbox?$select=id"},
        {"id": "user", "method": "GET", "url": "/users?$select=id&$top=1", "headers": {"ConsistencyLevel": "eventual"}},
        {"id": "post", "method": "POST", "url": "/users", "body": {}, "headers": {"Content-Type": "application/json"}},
    ]
    answers = by_id(batch(requests, token=token))
    assert answers["mail"]["status"] == 200
    assert (answers["drive"]["status"], answers["drive"]["body"]["error"]["code"]) == (
        403,
        "Authorization_RequestDenied",
    )
    assert answers["none"]["body"]["error"]["code"] == "MailboxNotEnabledForRESTAPI"
    assert answers["user"]["status"] == 200
    assert len(answers["user"]["body"]["value"]) == 1
    assert answers["post"]["status"] == 405


def test_a_request_whose_dependency_failed_answers_424(batch, m365sim):
    m365sim.set_mailbox("contoso", ALEX, "none")
    alex = str(User.objects.get(user_principal_name=ALEX).id)
    requests = [
        {"id": "1", "method": "GET", "url": f"/users/{alex}/mailFolders/inbox"},
        {"id": "2", "method": "GET", "url": f"/users/{alex}/drive", "dependsOn": ["1"]},
        {"id": "3", "method": "GET", "url": "/teams", "dependsOn": ["4"]},
        {"id": "4", "method": "GET", "url": "/sites/getAllSites"},
    ]
    answers = by_id(batch(requests))
    assert [answers[n]["status"] for n in "1234"] == [404, 424, 200, 200]
    # Each runs after what it depends on: 4 before 3, though listed after it.
    order = [a["id"] for a in batch(requests).json()["responses"]]
    assert order.index("4") > order.index("3")  # answered in reverse order of running


def test_a_dependency_cycle_is_400(batch):
    requests = [
        {"id": "1", "method": "GET", "url": "/teams", "dependsOn": ["2"]},
        {"id": "2", "method": "GET", "url": "/teams", "dependsOn": ["1"]},
    ]
    assert batch(requests).status_code == 400


def test_the_batch_pays_the_latency_once(batch, contoso_consented, monkeypatch):
    sim.set_faults(contoso_consented, latency_ms=300)
    slept: list[float] = []
    monkeypatch.setattr(graph_request.time, "sleep", slept.append)
    User.objects.update(mailbox="provisioned")
    assert by_id(batch(twenty_mailboxes()))["20"]["status"] == 200
    (waited,) = slept  # once for the batch, what its twenty requests' own work left of the 300 ms
    assert 0 < waited < 0.3
