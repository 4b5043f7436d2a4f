import pytest

from m365sim.models import User as SimUser
from provisioning import graph
from provisioning.directory_sync import write_users
from provisioning.models import DirectoryUser, GroupMembership, SyncRun, SyncStatus
from provisioning.tasks import provision_directory
from tenants.models import ProtectedService, ServiceStatus

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


@pytest.fixture
def granted(cast, driver) -> SyncRun:
    assert driver.grant().status_code == 302
    return SyncRun.objects.get(tenant=cast.tenant)


def directory_snapshot(tenant) -> tuple:
    return (
        sorted(DirectoryUser.objects.filter(tenant=tenant).values_list("microsoft_id", "user_principal_name")),
        GroupMembership.objects.filter(tenant=tenant).count(),
    )


def test_a_redelivered_task_after_success_does_nothing(cast, driver, granted):
    driver.tasks.run()
    before = directory_snapshot(cast.tenant)
    finished_at = SyncRun.objects.get(pk=granted.pk).finished_at
    provision_directory.apply(args=(granted.pk,), throw=True)
    assert directory_snapshot(cast.tenant) == before
    assert SyncRun.objects.get(pk=granted.pk).finished_at == finished_at


def test_a_run_interrupted_midway_runs_again_without_duplicates(cast, driver, granted, contoso):
    driver.tasks.run()
    expected = directory_snapshot(cast.tenant)
    # As if a worker died mid-run and the broker delivered the task again.
    SyncRun.objects.filter(pk=granted.pk).update(status=SyncStatus.RUNNING, finished_at=None)
    provision_directory.apply(args=(granted.pk,), throw=True)
    assert directory_snapshot(cast.tenant) == expected
    run = SyncRun.objects.get(pk=granted.pk)
    assert run.status == SyncStatus.SUCCEEDED
    assert run.users_synced == SimUser.objects.filter(tenant=contoso, deleted_at__isnull=True).count()
    assert ProtectedService.objects.get(tenant=cast.tenant, kind="exchange-online").status == ServiceStatus.PROTECTED


def test_directory_strings_are_normalized_for_storage(cast):
    user = graph.DirectoryUser(
        id="8d9d9a53-5b7a-4d55-9d4f-1f5a4f0e2b11",
        user_principal_name="alex@contoso.onmicrosoft.com",
        display_name="Alex\x00 \ud800Wilber",
        mail=None,
        account_enabled=True,
    )
    write_users(cast.tenant.pk, [user])
    alex = DirectoryUser.objects.get(user_principal_name="alex@contoso.onmicrosoft.com")
    assert alex.display_name == "Alex \ufffdWilber"
    assert alex.normalized
    assert alex.mail == ""
