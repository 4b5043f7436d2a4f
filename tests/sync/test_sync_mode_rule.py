"""Certain-users mode: no manual and no scheduled sync, at every layer; Extend to all users is one way."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import Action, AuditEvent
from directory import runs, selection
from directory.engine import sync_batch
from directory.models import (
    DirectoryUser,
    SelectedUser,
    SyncKind,
    SyncMode,
    SyncRun,
    SyncSettings,
    SyncStatus,
    SyncTrigger,
)
from directory.schedule import dispatch_due_syncs
from m365sim.models import User as SimUser
from microsoft import graph
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
    assert SyncRun.objects.get(organization=cast.organization).status == SyncStatus.SUCCEEDED
    return cast


def test_the_page_offers_no_sync_now(certain, driver):
    page = driver.client.get(reverse("service_status", args=[certain.organization.slug])).content.decode()
    assert "Sync now" not in page
    assert "Extend to all users" in page
    assert "Update synchronized users" in page


def test_the_view_and_the_service_refuse_sync_now(certain, driver):
    driver.portal("post", reverse("sync_now", args=[certain.organization.slug]))
    assert SyncRun.objects.filter(organization=certain.organization).count() == 1
    page = driver.client.get(reverse("service_status", args=[certain.organization.slug])).content.decode()
    assert "manual and scheduled synchronization are not available" in page
    with pytest.raises(runs.SyncRefused, match="not available"):
        runs.sync_now(organization=certain.organization, actor=certain.owner.user)


@pytest.mark.parametrize("trigger", [SyncTrigger.MANUAL, SyncTrigger.SCHEDULED])
def test_the_task_refuses_a_manual_or_scheduled_run(certain, trigger):
    service = certain.organization.services.get(kind="exchange-online")
    run = SyncRun.objects.create(
        organization=certain.organization, service=service, kind=SyncKind.DELTA, trigger=trigger
    )
    before = portal_state(certain.organization)
    sync_batch.apply(args=(run.pk, 0), throw=True)
    run.refresh_from_db()
    assert run.status == SyncStatus.FAILED
    assert "not available" in run.error
    assert portal_state(certain.organization) == before


def test_the_scheduler_skips_certain_users_organizations(certain, driver):
    SyncSettings.objects.filter(organization=certain.organization).update(daily_sync_time=dt.time(0, 0))
    assert dispatch_due_syncs(timezone.now().replace(hour=23)) == 0
    assert driver.tasks.names == []


def test_editing_the_chosen_users_synchronizes_them(certain, driver, contoso):
    picker = reverse("selected_users", args=[certain.organization.slug, "exchange-online"])
    other = SimUser.objects.filter(tenant=contoso).exclude(user_principal_name__startswith="alex@").first()
    assert other is not None
    driver.portal("post", picker.replace("/users/", "/users/add/"), {"user_principal_name": other.user_principal_name})
    assert driver.tasks.names == ["provisioning.sync_batch"]
    driver.tasks.run()
    run = SyncRun.objects.filter(organization=certain.organization).latest("queued_at")
    assert run.trigger == SyncTrigger.LIST_EDIT
    assert DirectoryUser.objects.filter(organization=certain.organization, microsoft_id=other.id).exists()

    alex = SelectedUser.objects.get(
        organization=certain.organization, user_principal_name="alex@contoso.onmicrosoft.com"
    )
    driver.portal("post", picker.replace("/users/", f"/users/{alex.microsoft_id}/remove/"))
    driver.tasks.run()
    assert not DirectoryUser.objects.filter(organization=certain.organization, microsoft_id=alex.microsoft_id).exists()


def test_an_edit_made_while_the_run_reads_the_chosen_users_gets_a_run_of_its_own(certain, driver, contoso, monkeypatch):
    picker = reverse("selected_users", args=[certain.organization.slug, "exchange-online"])
    pra, late = SimUser.objects.filter(tenant=contoso).exclude(user_principal_name__startswith="alex@")[:2]
    driver.portal("post", picker.replace("/users/", "/users/add/"), {"user_principal_name": pra.user_principal_name})
    edit_run = SyncRun.objects.filter(organization=certain.organization).latest("queued_at")

    # An administrator adds someone while the run is asking Graph for the users it has already read.
    read_user = graph.GraphClient.user
    edited: list[SimUser] = []

    def user_then_edit(client, id_or_upn):
        if not edited:
            edited.append(late)
            chosen = graph.DirectoryUser(id=str(late.id), user_principal_name=late.user_principal_name, display_name="")
            selection.add_selected_users(
                organization=certain.organization, users=[selection.listed_user(chosen)], actor=certain.owner.user
            )
        return read_user(client, id_or_upn)

    monkeypatch.setattr(graph.GraphClient, "user", user_then_edit)
    driver.tasks.run()

    edit_run.refresh_from_db()
    assert edit_run.status == SyncStatus.SUCCEEDED
    assert edit_run.follow_up_requested
    assert edit_run.users_total == 2  # alex and pra: the list as it was read, before the edit
    follow_up = SyncRun.objects.filter(organization=certain.organization).latest("queued_at")
    assert follow_up.pk != edit_run.pk
    assert (follow_up.trigger, follow_up.status, follow_up.follow_up_requested) == (
        SyncTrigger.LIST_EDIT,
        SyncStatus.SUCCEEDED,
        False,
    )
    assert follow_up.users_total == 3
    assert DirectoryUser.objects.filter(organization=certain.organization, microsoft_id=late.id).exists()
    assert DirectoryUser.objects.filter(organization=certain.organization, microsoft_id=pra.id).exists()
    queued = AuditEvent.objects.filter(organization=certain.organization, action=Action.SYNC_QUEUED).order_by("-pk")[0]
    assert queued.details["run"] == str(follow_up.public_id)


def test_extend_to_all_users_synchronizes_everyone_for_every_service(certain, driver, contoso):
    confirm = driver.client.get(reverse("extend_to_all_users", args=[certain.organization.slug]))
    assert "cannot be undone" in confirm.content.decode()
    extended = driver.portal("post", reverse("extend_to_all_users", args=[certain.organization.slug]))
    driver.tasks.run()
    assert SyncSettings.objects.get(organization=certain.organization).mode == SyncMode.ALL
    run = SyncRun.objects.filter(organization=certain.organization).latest("queued_at")
    # It leads to that run's own progress, which says what the run is.
    assert extended["Location"] == reverse("sync_run_progress", args=[certain.organization.slug, run.public_id])
    progress = driver.client.get(extended["Location"]).content.decode()
    assert "Extend to all users: synchronizing all users and groups" in progress
    assert (run.kind, run.trigger, run.status) == (SyncKind.FULL, SyncTrigger.EXTEND, SyncStatus.SUCCEEDED)
    assert portal_state(certain.organization) == simulator_state(contoso)
    assert AuditEvent.objects.filter(action=Action.SYNC_MODE_EXTENDED, actor=certain.owner.user).exists()
    form = driver.client.get(reverse("grant_start", args=[certain.organization.slug, "onedrive"])).content.decode()
    assert 'id="sync-mode-all" value="all" checked' in form


def test_there_is_no_way_back_from_all_users(protected):
    with pytest.raises(runs.SyncRefused, match="already synchronizes all users"):
        runs.extend_to_all_users(organization=protected.organization, actor=protected.owner.user)
