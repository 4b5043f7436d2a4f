"""Property-based: whatever arrives at the two grant callbacks, nothing breaks and nothing changes.

Hundreds of malformed, forged, replayed, cross-session and cross-organization parameter sets, sent as raw
query strings (invalid UTF-8, NUL, lone surrogates, duplicated keys, oversize values included) to
/grant/consent/callback/ and /grant/identity/callback/. What must hold for every one of them:
- never a server error: the portal answers with its refusal page (or, for a legitimate step, a redirect);
- never a change: no service account, the organization's Microsoft tenant unchanged, no policy enabled;
- a signed-in caller's refused attempt is audited (GRANT_CALLBACK_REJECTED, or GRANT_REFUSED when the state
  named an attempt); an anonymous caller's is not written to the audit log;
- a state, once presented by anyone, never works again (a stolen one burns the attempt).

The portal talks to the simulator in-process (the `m365sim` fixture); the grant is driven as in tests/grant/.
"""

from urllib.parse import parse_qsl, quote_from_bytes, urlsplit

import pytest
from django.test import Client
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from audit.models import Action, AuditEvent
from connection.models import ServiceAccount
from grant.models import IN_FLIGHT_STEPS, GrantAttempt, GrantStep
from organizations.models import Membership, Policy
from tests.grant_driver import GrantDriver, portal_client

pytestmark = [pytest.mark.django_db(databases=["default", "m365sim"]), pytest.mark.timeout(300)]

CONSENT = "/grant/consent/callback/"
IDENTITY = "/grant/identity/callback/"
PORTAL_HOST = "127.0.0.1:8000"
REFUSAL_ACTIONS = {Action.GRANT_CALLBACK_REJECTED, Action.GRANT_REFUSED}


def fuzz_settings(examples: int):
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,  # the same examples on every run, so CI failures reproduce
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# Raw query strings: bytes, percent-encoded exactly as a hostile client may send them.

KEYS = [
    "state",
    "admin_consent",
    "tenant",
    "scope",
    "code",
    "client_info",
    "session_state",
    "error",
    "error_description",
    "error_uri",
    "error_codes",
    "id_token",
    "org_slug",
    "service_kind",
    "next",
    "redirect_uri",
]
HOSTILE = [
    "",
    "True",
    "true",
    "False",
    "access_denied",
    "consent_required",
    "login_required",
    "interaction_required",
    "invalid_client",
    "AADSTS7000215: Invalid client secret provided.",
    "AADSTS65001: The user or administrator has not consented.",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "' OR 1=1 --",
    "../../../../etc/passwd",
    "https://evil.example/",
    "//evil.example",
    "javascript:alert(1)",
    "\x00",
    "a\x00b" * 20,
    "\u202egnp.exe",
    "\ud800",
    "\udfff" * 3,
    "😀" * 50,
    "%00%0d%0aSet-Cookie:x=y",
    "A" * 5000,
    "00000000-0000-0000-0000-000000000000",
    "contoso",
    "fabrikam",
]
state_shaped = st.from_regex(r"[A-Za-z0-9_\-.~]{16,200}", fullmatch=True)
text_value = st.one_of(
    st.sampled_from(HOSTILE),
    state_shaped,
    st.uuids().map(str),
    st.text(max_size=300),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=50),
)
raw_value = st.one_of(
    text_value.map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.binary(max_size=200),  # invalid UTF-8 included
)
raw_key = st.one_of(st.sampled_from(KEYS), st.text(max_size=20).map(lambda key: key or "x")).map(
    lambda key: key.encode("utf-8", "surrogatepass")
)
raw_pairs = st.lists(st.tuples(raw_key, raw_value), max_size=8)
# Extras next to a real state: a second `state` would replace it (the last value of a key wins).
extra_pairs = st.lists(st.tuples(raw_key.filter(lambda key: key != b"state"), raw_value), max_size=8)


def query_string(pairs: list[tuple[bytes, bytes]]) -> str:
    return "&".join(f"{quote_from_bytes(key, safe='')}={quote_from_bytes(value, safe='')}" for key, value in pairs)


def get(client: Client, capture, path: str, pairs: list[tuple[bytes, bytes]]):
    with capture(execute=True):
        return client.get(f"{path}?{query_string(pairs)}")


class Snapshot:
    """What a refused callback must leave as it was."""

    def __init__(self, organization) -> None:
        organization.refresh_from_db()
        self.organization = organization
        self.microsoft_tenant_id = organization.microsoft_tenant_id
        self.audit_ids = set(AuditEvent.objects.values_list("pk", flat=True))
        self.enabled_policies = set(Policy.objects.filter(enabled=True).values_list("pk", flat=True))

    def new_events(self) -> list[AuditEvent]:
        return list(AuditEvent.objects.exclude(pk__in=self.audit_ids).order_by("pk"))

    def assert_nothing_changed(self) -> None:
        self.organization.refresh_from_db()
        assert self.organization.microsoft_tenant_id == self.microsoft_tenant_id
        assert not ServiceAccount.objects.exists()
        assert set(Policy.objects.filter(enabled=True).values_list("pk", flat=True)) == self.enabled_policies


def assert_refused(response, *, anonymous: bool = False) -> None:
    # Anonymous floods are cut short by a rate limit (429) once they pass the per-minute allowance.
    assert response.status_code in ((400, 429) if anonymous else (400,)), response.status_code
    assert response["Content-Type"].startswith("text/html")
    assert b"<script>alert(1)" not in response.content


def assert_audited_once(snapshot: Snapshot, user) -> None:
    """One refusal in the attempt's organization, naming the caller only when they are one of its members; a
    caller of another organization is named once more, to staff alone (an event without organization)."""
    events = [event for event in snapshot.new_events() if event.action in REFUSAL_ACTIONS]
    member = Membership.objects.filter(organization=snapshot.organization, user=user).exists()
    told = [event for event in events if event.organization_id == snapshot.organization.pk]
    staff = [event for event in events if event.organization_id is None]
    assert len(told) == 1, [(event.action, event.details) for event in snapshot.new_events()]
    assert told[0].actor == (user if member else None)
    assert [event.actor for event in staff] == ([] if member else [user])


# 1. No attempt in flight: whatever the parameters, refused.


@fuzz_settings(examples=150)
@given(path=st.sampled_from([CONSENT, IDENTITY]), pairs=raw_pairs)
def test_any_parameters_without_a_live_state_are_refused_audited_and_change_nothing(
    cast, driver: GrantDriver, path, pairs
):
    snapshot = Snapshot(cast.organization)
    assert_refused(get(driver.client, driver.capture, path, pairs))
    snapshot.assert_nothing_changed()
    # No attempt, so no organization to tell: one event for staff, naming the caller.
    events = [event for event in snapshot.new_events() if event.action in REFUSAL_ACTIONS]
    assert [(event.actor, event.organization_id) for event in events] == [(cast.owner.user, None)]


@fuzz_settings(examples=120)
@given(path=st.sampled_from([CONSENT, IDENTITY]), pairs=raw_pairs)
def test_anonymous_callbacks_are_refused_and_not_written_to_the_audit_log(cast, driver: GrantDriver, path, pairs):
    snapshot = Snapshot(cast.organization)
    assert_refused(get(Client(HTTP_HOST=PORTAL_HOST), driver.capture, path, pairs), anonymous=True)
    snapshot.assert_nothing_changed()
    assert snapshot.new_events() == []


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
@pytest.mark.parametrize("path", [CONSENT, IDENTITY])
def test_callbacks_answer_only_get(cast, driver: GrantDriver, path, method):
    snapshot = Snapshot(cast.organization)
    assert getattr(driver.client, method)(f"{path}?state={'a' * 43}").status_code == 405
    snapshot.assert_nothing_changed()


# 2. A live consent-leg state, presented by someone else, on the wrong leg, or with forged extras.

CALLERS = ["owner, other session", "read-only member", "admin of another organization", "anonymous"]


def caller_client(cast, who: str) -> tuple[Client, object]:
    if who == "owner, other session":
        return portal_client(cast.owner.user), cast.owner.user
    if who == "read-only member":
        return portal_client(cast.reader.user), cast.reader.user
    if who == "admin of another organization":
        return portal_client(cast.outsider.user), cast.outsider.user
    return Client(HTTP_HOST=PORTAL_HOST), None


def live_consent_state(driver: GrantDriver) -> str:
    # An earlier example may have left its attempt in flight (a refused callback that named no attempt).
    GrantAttempt.objects.filter(step__in=IN_FLIGHT_STEPS).update(step=GrantStep.CANCELLED, state_hash=None)
    started = driver.start()
    assert started.status_code == 302, started.content[:500]
    return dict(parse_qsl(urlsplit(started["Location"]).query))["state"]


def forged_consent(cast, state: str, extra: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """A consent callback as Microsoft would send it, plus whatever the attacker adds."""
    return [
        (b"state", state.encode()),
        (b"admin_consent", b"True"),
        (b"tenant", str(cast.organization.pk).encode()),
        *extra,
    ]


@fuzz_settings(examples=40)
@given(who=st.sampled_from(CALLERS), path=st.sampled_from([CONSENT, IDENTITY]), extra=extra_pairs)
def test_a_consent_state_used_by_anyone_but_its_session_is_refused_and_burnt(
    cast, driver: GrantDriver, who, path, extra
):
    state = live_consent_state(driver)
    snapshot = Snapshot(cast.organization)
    client, user = caller_client(cast, who)
    assert_refused(get(client, driver.capture, path, forged_consent(cast, state, extra)))
    snapshot.assert_nothing_changed()
    if user is None:
        assert snapshot.new_events() == []
    else:
        assert_audited_once(snapshot, user)
    # The attempt is over: its own admin, in its own session, cannot use the state any more.
    assert_refused(get(driver.client, driver.capture, CONSENT, forged_consent(cast, state, [])))
    assert not GrantAttempt.objects.filter(step__in=[GrantStep.CONSENT, GrantStep.IDENTITY]).exists()
    snapshot.assert_nothing_changed()


@fuzz_settings(examples=30)
@given(extra=extra_pairs)
def test_a_consent_state_on_the_identity_callback_is_refused(cast, driver: GrantDriver, extra):
    state = live_consent_state(driver)
    snapshot = Snapshot(cast.organization)
    assert_refused(get(driver.client, driver.capture, IDENTITY, forged_consent(cast, state, extra)))
    snapshot.assert_nothing_changed()
    assert_audited_once(snapshot, cast.owner.user)


@fuzz_settings(examples=40)
@given(
    error=st.sampled_from(
        ["access_denied", "consent_required", "invalid_request", "server_error", "temporarily_unavailable"]
    ),
    description=raw_value,
    extra=extra_pairs,
)
# Always tried, whatever the generator draws: a NUL in the text the refusal stores, and codes that are no numbers.
@example(error="server_error", description=b"AADSTS50000 \x00", extra=[])
@example(error="access_denied", description=b"", extra=[(b"error_codes", b"True")])
def test_an_error_from_microsoft_with_hostile_details_is_refused_in_the_admins_own_session(
    cast, driver: GrantDriver, error, description, extra
):
    state = live_consent_state(driver)
    snapshot = Snapshot(cast.organization)
    pairs = [(b"state", state.encode()), (b"error", error.encode()), (b"error_description", description), *extra]
    assert_refused(get(driver.client, driver.capture, CONSENT, pairs))
    snapshot.assert_nothing_changed()
    assert_audited_once(snapshot, cast.owner.user)


# 3. The identity leg: a real code and state from Microsoft, stolen, replayed or tampered with.


def identity_callback_url(driver: GrantDriver) -> str:
    """Grant Permission, Accept at the simulator, the consent callback, the silent sign-in: where the browser
    would come back to the identity callback (not followed)."""
    GrantAttempt.objects.filter(step__in=IN_FLIGHT_STEPS).update(step=GrantStep.CANCELLED, state_hash=None)
    started = driver.start()
    consent_callback = driver.consent(started["Location"])
    to_identity = driver.portal("get", consent_callback)
    assert to_identity.status_code == 302, to_identity.content[:500]
    return driver.at_microsoft(to_identity["Location"])


def url_pairs(url: str) -> list[tuple[bytes, bytes]]:
    return [(key.encode(), value.encode()) for key, value in parse_qsl(urlsplit(url).query, keep_blank_values=True)]


@fuzz_settings(examples=25)
@given(who=st.sampled_from(CALLERS), extra=extra_pairs)
def test_a_stolen_identity_callback_is_refused_and_cannot_be_replayed_by_its_owner(
    cast, driver: GrantDriver, who, extra
):
    genuine = url_pairs(identity_callback_url(driver))
    snapshot = Snapshot(cast.organization)
    client, user = caller_client(cast, who)
    assert_refused(get(client, driver.capture, IDENTITY, [*genuine, *extra]))
    snapshot.assert_nothing_changed()
    if user is None:
        assert snapshot.new_events() == []
    else:
        assert_audited_once(snapshot, user)
    assert_refused(get(driver.client, driver.capture, IDENTITY, genuine))
    snapshot.assert_nothing_changed()


TAMPERED = ["code", "client_info", "session_state"]


@fuzz_settings(examples=25)
@given(
    replaced=st.sets(st.sampled_from(TAMPERED), min_size=1).map(sorted),
    values=st.lists(raw_value, min_size=3, max_size=3),
    drop_code=st.booleans(),
)
def test_a_tampered_identity_callback_in_the_admins_own_session_is_refused(
    cast, driver: GrantDriver, replaced, values, drop_code
):
    genuine = dict(url_pairs(identity_callback_url(driver)))
    forged = dict(genuine)
    for key, value in zip(replaced, values, strict=False):
        forged[key.encode()] = value
    if drop_code:
        forged.pop(b"code")
    elif forged[b"code"] == genuine[b"code"]:
        forged[b"code"] = genuine[b"code"][:-4] + b"AAAA"
    snapshot = Snapshot(cast.organization)
    assert_refused(get(driver.client, driver.capture, IDENTITY, list(forged.items())))
    snapshot.assert_nothing_changed()
    assert_audited_once(snapshot, cast.owner.user)


def test_a_genuine_grant_after_all_that_still_works(cast, driver: GrantDriver):
    """The refusals above leave no lock behind: the same admin then grants access normally."""
    url = identity_callback_url(driver)
    assert_refused(get(portal_client(cast.outsider.user), driver.capture, IDENTITY, url_pairs(url)))
    response = driver.grant()
    assert response.status_code == 302
    assert ServiceAccount.objects.filter(organization=cast.organization).count() == 1
    cast.organization.refresh_from_db()
    assert cast.organization.microsoft_tenant_id is not None


# Examples the properties above found, kept as plain tests so that each failure names its cause.


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param([(b"error_codes", b"True")], id="error_codes not a number"),
        pytest.param([(b"error_codes", b"[7000215]")], id="error_codes as a JSON list"),
        pytest.param([(b"error_description", b"AADSTS65001 \x00 the consent was revoked")], id="NUL in description"),
        pytest.param([(b"error_description", b"\xed\xa0\x80 lone surrogate, as UTF-8")], id="lone surrogate"),
        pytest.param([(b"error_description", b"x" * 100_000)], id="100 kB description"),
    ],
)
@pytest.mark.parametrize("error", ["access_denied", "server_error", "invalid_request"])
def test_an_error_callback_with_odd_details_is_refused_not_a_server_error(cast, driver: GrantDriver, error, extra):
    state = live_consent_state(driver)
    snapshot = Snapshot(cast.organization)
    pairs = [(b"state", state.encode()), (b"error", error.encode()), *extra]
    assert_refused(get(driver.client, driver.capture, CONSENT, pairs))
    snapshot.assert_nothing_changed()
    assert_audited_once(snapshot, cast.owner.user)
    assert not GrantAttempt.objects.filter(step__in=IN_FLIGHT_STEPS).exists(), "the refused attempt stays in flight"
