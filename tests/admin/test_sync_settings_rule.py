import datetime
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from audit.models import Action, AuditEvent
from directory.models import SelectedUser, SyncMode, SyncRun, SyncSettings, SyncTrigger
from directory.runs import sync_settings_for
from directory.settings import change_sync_settings
from organizations.models import ProtectedService
from tests.factories import ServiceAccountFactory

pytestmark = pytest.mark.django_db


def granted(cast, mode: str) -> SyncSettings:
    service = ProtectedService.objects.get(organization=cast.organization, kind="exchange-online")
    ServiceAccountFactory.create(service=service)
    sync_settings = sync_settings_for(cast.organization)
    sync_settings.mode = mode
    sync_settings.save()
    return sync_settings


def save(client, sync_settings: SyncSettings, **data):
    url = reverse("admin:provisioning_syncsettings_change", args=[sync_settings.pk])
    return client.post(url, {"mode": sync_settings.mode, "daily_sync_time": "", **data})


def errors(response) -> str:
    assert response.status_code == 200, "the form was saved"
    return " ".join(str(e) for e in response.context["adminform"].form.errors.values())


def test_all_to_certain_is_refused_with_the_rule(cast, operator_client):
    sync_settings = granted(cast, SyncMode.ALL)
    message = errors(save(operator_client, sync_settings, mode=SyncMode.CERTAIN))
    assert "cannot go back to certain users" in message
    assert "shared by Exchange Online, SharePoint Online, OneDrive and Microsoft Teams" in message
    sync_settings.refresh_from_db()
    assert sync_settings.mode == SyncMode.ALL


def test_no_scheduled_sync_in_certain_users_mode(cast, operator_client):
    sync_settings = granted(cast, SyncMode.CERTAIN)
    message = errors(save(operator_client, sync_settings, daily_sync_time="05:15"))
    assert "no scheduled synchronization in certain-users mode" in message


def test_at_most_100_chosen_users(cast, operator_client):
    sync_settings = granted(cast, SyncMode.CERTAIN)
    SelectedUser.objects.bulk_create(
        SelectedUser(
            organization=cast.organization, microsoft_id=uuid.uuid4(), user_principal_name=f"u{n}@contoso.test"
        )
        for n in range(101)
    )
    assert "At most 100 users" in errors(save(operator_client, sync_settings))


def test_the_option_is_chosen_at_the_first_grant(cast, operator_client):
    sync_settings = sync_settings_for(cast.organization)
    assert "chosen when the first one is granted" in errors(save(operator_client, sync_settings, mode=SyncMode.CERTAIN))


@pytest.mark.usefixtures("task_queue")
def test_certain_to_all_extends_to_all_users_audited(cast, operator_client):
    sync_settings = granted(cast, SyncMode.CERTAIN)
    response = save(operator_client, sync_settings, mode=SyncMode.ALL)
    assert response.status_code == 302
    sync_settings.refresh_from_db()
    assert sync_settings.mode == SyncMode.ALL
    assert SyncRun.objects.get(organization=cast.organization).trigger == SyncTrigger.EXTEND
    assert AuditEvent.objects.filter(action=Action.SYNC_MODE_EXTENDED, actor_email="operator@casportal.test").exists()
    change = AuditEvent.objects.get(action=Action.ADMIN_CHANGED)
    assert change.details["changes"] == {"mode": ["certain", "all"]}


def test_the_daily_time_can_change_in_all_users_mode(cast, operator_client):
    sync_settings = granted(cast, SyncMode.ALL)
    assert save(operator_client, sync_settings, daily_sync_time="05:15").status_code == 302
    sync_settings.refresh_from_db()
    assert sync_settings.daily_sync_time == datetime.time(5, 15)
    change = AuditEvent.objects.get(action=Action.ADMIN_CHANGED)
    assert change.details["changes"] == {"daily_sync_time": ["", "05:15:00"]}
    assert change.organization == cast.organization


def test_the_service_holds_the_rule_whoever_calls_it(cast, operator_staff):
    sync_settings = granted(cast, SyncMode.ALL)
    with pytest.raises(ValidationError) as refusal:
        change_sync_settings(
            sync_settings=sync_settings, mode=SyncMode.CERTAIN, daily_sync_time=None, actor=operator_staff
        )
    assert "cannot go back to certain users" in str(refusal.value.message_dict["mode"])
    SyncSettings.objects.filter(pk=sync_settings.pk).update(mode=SyncMode.CERTAIN)
    with pytest.raises(ValidationError) as refusal:
        change_sync_settings(
            sync_settings=sync_settings,
            mode=SyncMode.CERTAIN,
            daily_sync_time=datetime.time(5, 15),
            actor=operator_staff,
        )
    assert "no scheduled synchronization" in str(refusal.value.message_dict["daily_sync_time"])
    sync_settings.refresh_from_db()
    assert (sync_settings.mode, sync_settings.daily_sync_time) == (SyncMode.CERTAIN, None)
    assert not AuditEvent.objects.filter(action=Action.ADMIN_CHANGED).exists()


def test_a_refused_extension_changes_nothing(cast, operator_client):
    sync_settings = granted(cast, SyncMode.CERTAIN)
    SyncRun.objects.create(organization=cast.organization, kind="full", trigger="grant", status="running")
    response = save(operator_client, sync_settings, mode=SyncMode.ALL)
    assert response.status_code == 302
    assert "extend to all users when it has finished" in " ".join(
        str(message) for message in response.wsgi_request._messages
    )
    sync_settings.refresh_from_db()
    assert sync_settings.mode == SyncMode.CERTAIN
    assert not AuditEvent.objects.filter(action__in=[Action.ADMIN_CHANGED, Action.SYNC_MODE_EXTENDED]).exists()
