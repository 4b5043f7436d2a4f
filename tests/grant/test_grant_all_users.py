import re

import pytest
from django.urls import reverse

from audit.models import Action, AuditEvent
from connection.models import ServiceAccount
from directory.models import DirectoryDomain, DirectoryGroup, DirectoryUser, GroupMembership, SyncRun
from directory.progress import SUCCESS_SENTENCE
from m365sim.models import Group as SimGroup
from m365sim.models import Tenant as SimTenant
from m365sim.models import User as SimUser
from organizations.models import Policy, ProtectedService, ServiceStatus

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


def test_all_users_grant_ends_in_the_success_sentence_with_the_simulators_directory(cast, driver, contoso):
    policy = Policy.objects.get(
        organization=cast.organization, service__kind="exchange-online", name="Default ATP policy"
    )
    response = driver.grant(policy=str(policy.public_id))
    assert response.status_code == 302, re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))[-1500:]

    service = ProtectedService.objects.get(organization=cast.organization, kind="exchange-online")
    assert service.status == ServiceStatus.PROVISIONING
    policy.refresh_from_db()
    assert not policy.enabled  # not before the synchronization succeeded
    cast.organization.refresh_from_db()
    assert str(cast.organization.microsoft_tenant_id) == str(contoso.id)
    account = ServiceAccount.objects.get(service=service)
    assert account.authorized_account == "admin@contoso.onmicrosoft.com"
    assert account.granted_by == cast.owner.user

    assert driver.tasks.names == ["provisioning.sync_batch"]
    driver.tasks.run()

    page = driver.portal("get", reverse("sync_progress", args=[cast.organization.slug, "exchange-online"]))
    assert SUCCESS_SENTENCE in page.content.decode()
    service.refresh_from_db()
    assert service.status == ServiceStatus.PROTECTED
    assert service.last_synced_at is not None
    policy.refresh_from_db()
    assert policy.enabled

    live_users = SimUser.objects.filter(tenant=contoso, deleted_at__isnull=True)
    live_groups = SimGroup.objects.filter(tenant=contoso, deleted_at__isnull=True)
    assert DirectoryUser.objects.filter(organization=cast.organization).count() == live_users.count()
    assert DirectoryGroup.objects.filter(organization=cast.organization).count() == live_groups.count()
    assert set(DirectoryUser.objects.values_list("user_principal_name", flat=True)) == set(
        live_users.values_list("user_principal_name", flat=True)
    )
    assert GroupMembership.objects.filter(organization=cast.organization).exists()
    assert DirectoryDomain.objects.filter(organization=cast.organization, name="contoso.onmicrosoft.com").exists()
    run = SyncRun.objects.get(organization=cast.organization)
    assert run.users_synced == live_users.count()

    status_page = driver.portal("get", reverse("service_status", args=[cast.organization.slug])).content.decode()
    assert "Protected" in status_page
    assert "admin@contoso.onmicrosoft.com" in status_page

    actions = set(AuditEvent.objects.filter(organization=cast.organization).values_list("action", flat=True))
    assert {
        Action.GRANT_STARTED,
        Action.GRANT_CONSENTED,
        Action.MICROSOFT_TENANT_BOUND,
        Action.SERVICE_ACCOUNT_CREATED,
        Action.SYNC_QUEUED,
        Action.SYNC_SUCCEEDED,
        Action.POLICY_ENABLED,
    } <= actions


def test_a_failed_synchronization_says_which_step_and_why_and_can_be_tried_again(cast, driver, contoso, settings):
    settings.SYNC_MAX_RETRIES = 1
    assert driver.grant().status_code == 302
    SimTenant.objects.filter(pk=contoso.pk).update(throttle_next=50, throttle_retry_after=1)
    driver.tasks.run()
    service = ProtectedService.objects.get(organization=cast.organization, kind="exchange-online")
    assert service.status == ServiceStatus.FAILED
    assert "too busy" in service.last_error
    page = driver.portal(
        "get", reverse("sync_progress", args=[cast.organization.slug, "exchange-online"])
    ).content.decode()
    assert "Reading the organization failed" in page
    assert "Try again" in page
    assert SUCCESS_SENTENCE not in page
    assert AuditEvent.objects.filter(action=Action.SYNC_FAILED).exists()

    SimTenant.objects.filter(pk=contoso.pk).update(throttle_next=0)
    driver.portal("post", reverse("sync_retry", args=[cast.organization.slug, "exchange-online"]))
    driver.tasks.run()
    service.refresh_from_db()
    assert service.status == ServiceStatus.PROTECTED
    assert SyncRun.objects.filter(organization=cast.organization).count() == 2


def test_progress_updates_as_a_fragment_for_htmx(cast, driver):
    driver.grant()
    url = reverse("sync_progress", args=[cast.organization.slug, "exchange-online"])
    fragment = driver.client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<div id="sync-progress"')
    assert "<html" not in fragment
    assert 'hx-trigger="every 2s"' in fragment
    full = driver.client.get(url).content.decode()
    assert '<meta http-equiv="refresh" content="5">' in full  # without JavaScript the page refreshes itself
