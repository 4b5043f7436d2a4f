import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from audit.models import Action, AuditEvent
from directory import runs
from directory.models import SyncRun
from grant import services as grants
from grant.models import GrantAttempt, GrantStep
from organizations.models import ProtectedService, ServiceStatus
from tests.admin.staff import TOTP_SECRET
from tests.conftest import client_for
from tests.factories import ServiceAccountFactory

pytestmark = pytest.mark.django_db

REASON = "Customer called: the grant window was closed by mistake (ticket 4711)."


def run_action(client, changelist: str, action: str, pk, reason: str | None = REASON):
    data = {"action": action, ACTION_CHECKBOX_NAME: [str(pk)]}
    if reason is not None:
        data |= {"confirm": "yes", "reason": reason}
    return client.post(reverse(changelist), data)


def activity_of(cast) -> str:
    return client_for(cast.owner).get(reverse("activity", args=[cast.organization.slug])).content.decode()


@pytest.fixture
def stuck_attempt(cast) -> GrantAttempt:
    service = ProtectedService.objects.get(organization=cast.organization, kind="exchange-online")
    grants.start_grant(
        service=service,
        actor=cast.owner.user,
        session_key="s" * 32,
        redirect_uri="http://127.0.0.1:8000/grant/consent/callback/",
    )
    return GrantAttempt.objects.get(service=service)


@pytest.fixture
def failed_service(cast) -> ProtectedService:
    service = ProtectedService.objects.get(organization=cast.organization, kind="exchange-online")
    ServiceAccountFactory.create(service=service)
    service.status = ServiceStatus.FAILED
    service.save()
    return service


def test_cancel_a_stuck_grant_asks_for_a_reason_and_shows_on_the_activity_page(cast, operator_client, stuck_attempt):
    changelist = "admin:provisioning_grantattempt_changelist"
    form = run_action(operator_client, changelist, "cancel_stuck_grant", stuck_attempt.pk, reason=None)
    assert form.status_code == 200
    assert "Reason" in form.content.decode()
    empty = run_action(operator_client, changelist, "cancel_stuck_grant", stuck_attempt.pk, reason="")
    assert "This field is required." in empty.content.decode()
    stuck_attempt.refresh_from_db()
    assert stuck_attempt.step == GrantStep.CONSENT

    assert run_action(operator_client, changelist, "cancel_stuck_grant", stuck_attempt.pk).status_code == 302
    stuck_attempt.refresh_from_db()
    assert stuck_attempt.step == GrantStep.CANCELLED
    event = AuditEvent.objects.get(action=Action.SUPPORT_GRANT_CANCELLED)
    assert (event.organization, event.actor_email) == (cast.organization, "operator@casportal.test")
    assert event.details == {"support": True, "reason": REASON, "attempt": str(stuck_attempt.public_id)}
    assert not AuditEvent.objects.filter(action=Action.GRANT_CANCELLED).exists(), "one support action, one event"
    activity = activity_of(cast)
    assert "Support: operator@casportal.test" in activity
    assert activity.count("Support cancelled a stuck access grant") == 1
    assert "Access grant cancelled" not in activity
    assert "ticket 4711" in activity


def test_cancelling_a_finished_attempt_is_refused_and_records_nothing(cast, operator_client, stuck_attempt):
    grants.cancel_grant(service=stuck_attempt.service, actor=cast.owner.user)
    response = run_action(
        operator_client, "admin:provisioning_grantattempt_changelist", "cancel_stuck_grant", stuck_attempt.pk
    )
    assert response.status_code == 302
    assert not AuditEvent.objects.filter(action=Action.SUPPORT_GRANT_CANCELLED).exists()


@pytest.mark.usefixtures("task_queue")
def test_retry_a_failed_provisioning_queues_a_sync(cast, operator_client, failed_service):
    response = run_action(
        operator_client, "admin:tenants_protectedservice_changelist", "retry_failed_provisioning", failed_service.pk
    )
    assert response.status_code == 302
    failed_service.refresh_from_db()
    assert failed_service.status == ServiceStatus.PROVISIONING
    run = SyncRun.objects.get(service=failed_service)
    event = AuditEvent.objects.get(action=Action.SUPPORT_PROVISIONING_RETRIED)
    assert event.details == {
        "support": True,
        "reason": REASON,
        "run": str(run.public_id),
        "kind": "full",
        "trigger": "grant",
    }
    assert event.target == "Exchange Online"
    assert not AuditEvent.objects.filter(action=Action.SYNC_QUEUED).exists(), "one support action, one event"
    activity = activity_of(cast)
    assert activity.count("Support retried a failed provisioning") == 1
    assert "Synchronization queued" not in activity


def test_retry_is_refused_for_a_service_that_did_not_fail(cast, operator_client):
    service = ProtectedService.objects.get(organization=cast.organization, kind="teams")
    run_action(operator_client, "admin:tenants_protectedservice_changelist", "retry_failed_provisioning", service.pk)
    assert not SyncRun.objects.exists()
    assert not AuditEvent.objects.filter(action=Action.SUPPORT_PROVISIONING_RETRIED).exists()


def test_reset_a_users_mfa_after_an_identity_check(cast, operator_client):
    user = cast.owner.user
    TOTP.activate(user, TOTP_SECRET)
    reason = "Identity checked by a video call with the photo ID on file."
    response = run_action(operator_client, "admin:accounts_user_changelist", "reset_mfa", user.pk, reason=reason)
    assert response.status_code == 302
    assert not Authenticator.objects.filter(user=user).exists()
    event = AuditEvent.objects.get(action=Action.SUPPORT_MFA_RESET)
    assert (event.organization, event.target, event.details["reason"]) == (cast.organization, user.email, reason)
    activity = activity_of(cast)
    assert "Support: operator@casportal.test" in activity
    assert "video call" in activity


@pytest.mark.usefixtures("cast")
def test_read_only_support_cannot_run_support_actions(reader_staff_client, stuck_attempt):
    run_action(
        reader_staff_client, "admin:provisioning_grantattempt_changelist", "cancel_stuck_grant", stuck_attempt.pk
    )
    stuck_attempt.refresh_from_db()
    assert stuck_attempt.step == GrantStep.CONSENT
    assert not AuditEvent.objects.filter(action=Action.SUPPORT_GRANT_CANCELLED).exists()


@pytest.mark.usefixtures("task_queue")
def test_sync_now_queues_a_manual_sync_in_all_users_mode_only(cast, operator_client, failed_service):
    failed_service.status = ServiceStatus.PROTECTED
    failed_service.save()
    run_action(operator_client, "admin:tenants_organization_changelist", "sync_now", cast.organization.pk)
    assert SyncRun.objects.get(organization=cast.organization).trigger == "manual"
    event = AuditEvent.objects.get(action=Action.SUPPORT_SYNC_NOW)
    assert event.details["reason"] == REASON
    assert not AuditEvent.objects.filter(action=Action.SYNC_QUEUED).exists(), "one support action, one event"
    assert activity_of(cast).count("Support started a synchronization") == 1


@pytest.mark.usefixtures("task_queue")
def test_supports_sync_now_joining_a_run_under_way_is_recorded_with_its_reason(cast, operator_client, failed_service):
    failed_service.status = ServiceStatus.PROTECTED
    failed_service.save()
    running = SyncRun.objects.create(organization=cast.organization, service=failed_service, kind="delta")
    run_action(operator_client, "admin:tenants_organization_changelist", "sync_now", cast.organization.pk)
    assert list(SyncRun.objects.filter(organization=cast.organization)) == [running]
    event = AuditEvent.objects.get(action=Action.SUPPORT_SYNC_NOW)
    assert event.details["run"] == str(running.public_id)
    assert event.details["joined_the_run_under_way"] is True
    assert event.details["reason"] == REASON


@pytest.mark.usefixtures("failed_service")
def test_sync_now_is_refused_in_certain_users_mode(cast, operator_client):
    sync_settings = runs.sync_settings_for(cast.organization)
    sync_settings.mode = "certain"
    sync_settings.save()
    run_action(operator_client, "admin:tenants_organization_changelist", "sync_now", cast.organization.pk)
    assert not SyncRun.objects.exists()
    assert not AuditEvent.objects.filter(action=Action.SUPPORT_SYNC_NOW).exists()


@pytest.mark.usefixtures("failed_service")
def test_mark_the_access_token_invalid_then_resend_the_email(cast, operator_client, mailoutbox):
    changelist = "admin:tenants_organization_changelist"
    run_action(operator_client, changelist, "resend_invalid_token_email", cast.organization.pk)
    assert not AuditEvent.objects.filter(action=Action.SUPPORT_INVALID_TOKEN_EMAIL_RESENT).exists()
    with_capture = run_action(operator_client, changelist, "mark_access_token_invalid", cast.organization.pk)
    assert with_capture.status_code == 302
    assert AuditEvent.objects.get(action=Action.SUPPORT_TOKEN_MARKED_INVALID).actor_email == "operator@casportal.test"
    assert not AuditEvent.objects.filter(action=Action.CONNECTION_BROKEN).exists(), "one support action, one event"
    run_action(operator_client, changelist, "mark_access_token_invalid", cast.organization.pk)
    assert "already marked invalid" in operator_client.get(reverse(changelist)).content.decode()
    assert AuditEvent.objects.filter(action=Action.SUPPORT_TOKEN_MARKED_INVALID).count() == 1
    sent_before = len(mailoutbox)
    run_action(operator_client, changelist, "resend_invalid_token_email", cast.organization.pk)
    assert AuditEvent.objects.filter(action=Action.SUPPORT_INVALID_TOKEN_EMAIL_RESENT).exists()
    assert len(mailoutbox) > sent_before
