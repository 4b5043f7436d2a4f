"""Callbacks take everything from the server-side state: forged, replayed, expired and foreign states are refused."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import Action, AuditEvent
from connection.models import ServiceAccount
from grant.models import GrantAttempt, GrantStep
from organizations.models import Membership, Role
from tests.grant_driver import portal_client

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])

CONSENT = "/grant/consent/callback/"
IDENTITY = "/grant/identity/callback/"


def assert_refused(response, text: str) -> None:
    assert response.status_code == 400
    assert text in response.content.decode()


def assert_unbound(cast) -> None:
    cast.organization.refresh_from_db()
    assert cast.organization.microsoft_tenant_id is None
    assert not ServiceAccount.objects.exists()


@pytest.mark.parametrize("path", [CONSENT, IDENTITY])
def test_a_forged_state_is_refused_and_audited(cast, driver, path):
    response = driver.portal("get", path, {"state": "forged-state-forged-state-forged", "admin_consent": "True"})
    assert_refused(response, "already used or is not known")
    event = AuditEvent.objects.get(action=Action.GRANT_CALLBACK_REJECTED)
    assert event.actor == cast.owner.user
    assert event.details["reason"] == "state_unknown"


@pytest.mark.parametrize(
    "params",
    [{}, {"state": ""}, {"state": "short"}, {"state": "<script>alert(1)</script>" * 3}, {"state": "x" * 5000}],
)
def test_malformed_parameters_are_refused_without_error(cast, driver, params):
    for path in (CONSENT, IDENTITY):
        assert_refused(driver.portal("get", path, params), "not valid")
    assert_unbound(cast)


@pytest.mark.usefixtures("cast")
def test_a_replayed_consent_callback_is_refused(driver):
    started = driver.start()
    callback = driver.consent(started["Location"])
    assert driver.portal("get", callback).status_code == 302
    assert_refused(driver.portal("get", callback), "already used or is not known")


@pytest.mark.usefixtures("cast")
def test_a_replayed_identity_callback_is_refused(driver):
    assert driver.grant().status_code == 302
    attempt = GrantAttempt.objects.get()
    assert attempt.step == GrantStep.PROVISIONING
    # The same identity callback again: its state was consumed with the first use.
    started = driver.start("sharepoint-online")
    consent_callback = driver.consent(started["Location"])
    to_identity = driver.portal("get", consent_callback)
    identity_callback = driver.at_microsoft(to_identity["Location"])
    assert driver.portal("get", identity_callback).status_code == 302
    assert_refused(driver.portal("get", identity_callback), "already used or is not known")


def test_an_expired_state_is_refused(cast, driver):
    started = driver.start()
    callback = driver.consent(started["Location"])
    GrantAttempt.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_refused(driver.portal("get", callback), "expired")
    assert_unbound(cast)


def test_a_state_from_another_session_of_the_same_user_is_refused(cast, driver):
    started = driver.start()
    callback = driver.consent(started["Location"])
    driver.client = portal_client(cast.owner.user)  # a new session
    assert_refused(driver.portal("get", callback), "another browser session")
    assert_unbound(cast)


def test_a_state_carried_to_another_member_is_refused_and_names_them(cast, driver):
    started = driver.start()
    callback = driver.consent(started["Location"])
    driver.client = portal_client(cast.reader.user)
    assert_refused(driver.portal("get", callback), "another browser session")
    assert_unbound(cast)
    event = AuditEvent.objects.get(action=Action.GRANT_REFUSED)
    assert (event.actor, event.organization) == (cast.reader.user, cast.organization)


def test_a_state_carried_to_someone_of_another_organization_names_them_to_staff_only(cast, driver):
    started = driver.start()
    callback = driver.consent(started["Location"])
    driver.client = portal_client(cast.outsider.user)
    assert_refused(driver.portal("get", callback), "another browser session")
    assert_unbound(cast)

    told_to_the_organization = AuditEvent.objects.get(action=Action.GRANT_REFUSED, organization=cast.organization)
    assert told_to_the_organization.actor is None
    assert told_to_the_organization.actor_email == ""
    assert told_to_the_organization.ip_address is None
    assert told_to_the_organization.user_agent == ""
    told_to_staff = AuditEvent.objects.get(action=Action.GRANT_CALLBACK_REJECTED)
    assert (told_to_staff.actor, told_to_staff.organization) == (cast.outsider.user, None)
    assert told_to_staff.details["attempt"] == told_to_the_organization.details["attempt"]
    activity = portal_client(cast.owner.user).get(f"/o/{cast.organization.slug}/activity/").content.decode()
    assert cast.outsider.user.email not in activity
    assert "127.0.0.1" not in activity.split("Access grant refused")[1].split("</tr>")[0]
    assert "Someone outside this organization" in activity


def test_an_anonymous_callback_is_refused_and_not_audited(cast, driver, client):
    started = driver.start()
    callback = driver.consent(started["Location"])
    response = client.get(callback.removeprefix("http://127.0.0.1:8000"))
    assert_refused(response, "another browser session")
    assert not AuditEvent.objects.filter(action__in=[Action.GRANT_REFUSED, Action.GRANT_CALLBACK_REJECTED]).exists()
    assert_unbound(cast)


def test_a_user_who_lost_the_admin_role_midway_is_refused(cast, driver):
    started = driver.start()
    callback = driver.consent(started["Location"])
    Membership.objects.filter(pk=cast.reader.pk).update(role=Role.ADMIN)
    Membership.objects.filter(pk=cast.owner.pk).update(role=Role.READ_ONLY)
    assert_refused(driver.portal("get", callback), "no longer an administrator")
    assert_unbound(cast)


def test_an_error_from_microsoft_at_the_identity_leg_is_explained(cast, driver):
    started = driver.start()
    to_identity = driver.portal("get", driver.consent(started["Location"]))
    state = dict(p.split("=", 1) for p in to_identity["Location"].split("?", 1)[1].split("&"))["state"]
    response = driver.portal(
        "get", IDENTITY, {"state": state, "error": "server_error", "error_description": "AADSTS90033: busy"}
    )
    assert_refused(response, "Microsoft did not complete the sign-in")
    assert_unbound(cast)


def test_a_read_only_member_cannot_start_a_grant(cast, driver):
    driver.client = portal_client(cast.reader.user)
    response = driver.start()
    assert response.status_code == 403
    assert not GrantAttempt.objects.exists()


@pytest.mark.usefixtures("db")
def test_anonymous_callback_floods_are_cut_short_without_audit_events(client, settings):
    settings.GRANT_CALLBACK_ANONYMOUS_PER_MINUTE = 5
    statuses = [client.get(CONSENT, {"state": f"flood-state-number-{n:04d}"}).status_code for n in range(8)]
    assert statuses[:5] == [400] * 5
    assert statuses[5:] == [429] * 3
    assert not AuditEvent.objects.exists()
