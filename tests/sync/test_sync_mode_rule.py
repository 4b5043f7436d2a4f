"""Certain-users mode: no manual and no scheduled sync, at every layer; Extend to all users is one way."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import Action, AuditEvent
from m365sim.models import User as SimUser
from provisioning import services
from provisioning.models import (
    DirectoryUser,
    SelectedUser,
    SyncKind,
    SyncMode,
    SyncRun,
    SyncSettings,
    SyncStatus,
    SyncTrigger,
)
from provisioning.schedule import dispatch_due_syncs
from provisioning.tasks import sync_batch
from tests.sync.conftest import portal_state, simulator_state

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


@pytest.fixture
def certain(cast, driver):
    response = driver.grant(mode="certain")
    picker = driver.portal("get", response["Location"])["Location"]
    driver.portal(
        "post", picker.replace("/users/", "/users/add/"), {"user_principal_name": "alex@contoso.onmicrosoft.com"}
    )
    driver.portal("post", picker.replace("/users/", "/users/start/"))
    driver.tasks.run()
    assert SyncRun.objects.get(tenant=cast.tenant).status == SyncStatus.SUCCEEDED
    return cast


def test_the_page_offers_no_sync_now(certain, driver):
    page = driver.client.get(reverse("service_status", args=[certain.tenant.slug])).content.decode()
    assert "Sync now" not in page
    assert "Extend to all users" in page
    assert "Update synchronized users" in page


def test_the_view_and_the_service_refuse_sync_now(certain, driver):
    driver.portal("post", reverse("sync_now", args=[certain.tenant.slug]))
    assert SyncRun.objects.filter(tenant=certain.tenant).count() == 1
    page = driver.client.get(reverse("service_status", args=[certain.tenant.slug])).content.decode()
    assert "manual and scheduled synchronization are not available" in page
    with pytest.raises(services.SyncRefused, match="not available"):
        services.sync_now(tenant=certain.tenant, actor=certain.owner.user)


@pytest.mark.parametrize("trigger", [SyncTrigger.MANUAL, SyncTrigger.SCHEDULED])
def test_the_task_refuses_a_manual_or_scheduled_run(certain, trigger):
    service = certain.tenant.services.get(kind="exchange-online")
    run = SyncRun.objects.create(tenant=certain.tenant, service=service, kind=SyncKind.DELTA, trigger=trigger)
    before = portal_state(certain.tenant)
    sync_batch.apply(args=(run.pk, 0), throw=True)
    run.refresh_from_db()
    assert run.status == SyncStatus.FAILED
    assert "not available" in run.error
    assert portal_state(certain.tenant) == before


def test_the_scheduler_skips_certain_users_organizations(certain, driver):
    SyncSettings.objects.filter(tenant=certain.tenant).update(daily_sync_time=dt.time(0, 0))
    assert dispatch_due_syncs(timezone.now().replace(hour=23)) == 0
    assert driver.tasks.names == []


def test_editing_the_chosen_users_synchronizes_them(certain, driver, contoso):
    picker = reverse("selected_users", args=[certain.tenant.slug, "exchange-online"])
    other = SimUser.objects.filter(tenant=contoso).exclude(user_principal_name__startswith="alex@").first()
    driver.portal("post", picker.replace("/users/", "/users/add/"), {"user_principal_name": other.user_principal_name})
    assert driver.tasks.names == ["provisioning.sync_batch"]
    driver.tasks.run()
    run = SyncRun.objects.filter(tenant=certain.tenant).latest("queued_at")
    assert run.trigger == SyncTrigger.LIST_EDIT
    assert DirectoryUser.objects.filter(tenant=certain.tenant, microsoft_id=other.id).exists()

    alex = SelectedUser.objects.get(tenant=certain.tenant, user_principal_name="alex@contoso.onmicrosoft.com")
    driver.portal("post", picker.replace("/users/", f"/users/{alex.microsoft_id}/remove/"))
    driver.tasks.run()
    assert not DirectoryUser.objects.filter(tenant=certain.tenant, microsoft_id=alex.microsoft_id).exists()


def test_extend_to_all_users_synchronizes_everyone_for_every_service(certain, driver, contoso):
    confirm = driver.client.get(reverse("extend_to_all_users", args=[certain.tenant.slug]))
    assert "cannot be undone" in confirm.content.decode()
    driver.portal("post", reverse("extend_to_all_users", args=[certain.tenant.slug]))
    driver.tasks.run()
    assert SyncSettings.objects.get(tenant=certain.tenant).mode == SyncMode.ALL
    run = SyncRun.objects.filter(tenant=certain.tenant).latest("queued_at")
    assert (run.kind, run.trigger, run.status) == (SyncKind.FULL, SyncTrigger.EXTEND, SyncStatus.SUCCEEDED)
    assert portal_state(certain.tenant) == simulator_state(contoso)
    assert AuditEvent.objects.filter(action=Action.SYNC_MODE_EXTENDED, actor=certain.owner.user).exists()
    form = driver.client.get(reverse("grant_start", args=[certain.tenant.slug, "onedrive"])).content.decode()
    assert 'id="sync-mode-all" value="all" checked' in form


def test_there_is_no_way_back_from_all_users(protected):
    with pytest.raises(services.SyncRefused, match="already synchronizes all users"):
        services.extend_to_all_users(tenant=protected.tenant, actor=protected.owner.user)
