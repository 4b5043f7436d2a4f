"""Organization-wide actions say so: Sync now is logged against the organization, not the service it runs under, and
Extend to all users promises the services that are granted, no others."""

import re

import pytest
from django.urls import reverse

from audit.models import Action, AuditEvent

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


def test_sync_now_is_logged_against_the_organization(cast, driver):
    driver.grant()
    driver.tasks.run()
    driver.portal("post", reverse("sync_now", args=[cast.organization.slug]))
    queued = AuditEvent.objects.get(action=Action.SYNC_QUEUED, details__trigger="manual")
    assert queued.target == "Contoso"
    driver.tasks.run()
    succeeded = AuditEvent.objects.filter(action=Action.SYNC_SUCCEEDED).order_by("-pk").first()
    assert succeeded is not None
    assert succeeded.target == "Contoso"
    first = AuditEvent.objects.get(action=Action.SYNC_QUEUED, details__trigger="grant")
    assert first.target == "Exchange Online"  # a grant's first sync is the service's


def test_extend_to_all_users_promises_only_the_granted_services(cast, driver):
    response = driver.grant(mode="certain")
    picker = driver.portal("get", response["Location"])["Location"]
    driver.portal(
        "post", picker.replace("/users/", "/users/add/"), {"user_principal_name": "alex@contoso.onmicrosoft.com"}
    )
    driver.portal("post", picker.replace("/users/", "/users/start/"))
    driver.tasks.run()
    url = reverse("extend_to_all_users", args=[cast.organization.slug])
    page = re.sub(r"\s+", " ", driver.portal("get", url).content.decode())
    assert "for Exchange Online, without granting access again" in page
    for other in ("SharePoint Online", "OneDrive", "Microsoft Teams"):
        assert other not in page.split("<main", 1)[1]
    done = driver.client.post(url, follow=True)
    assert "now synchronized, for Exchange Online." in done.content.decode()
