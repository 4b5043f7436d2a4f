import datetime

import pytest
from django.conf import settings
from django.utils import timezone

from connection.models import AppCredentialHealth, CredentialStatus
from support.staff import credential_warnings

pytestmark = pytest.mark.django_db


def test_no_banner_while_the_credential_is_accepted_and_far_from_expiry(superuser_client, settings):
    settings.MICROSOFT_CLIENT_SECRET_EXPIRES_ON = (timezone.now().date() + datetime.timedelta(days=90)).isoformat()
    assert "client secret" not in superuser_client.get("/admin/").content.decode()


def test_banner_on_every_admin_page_while_microsoft_rejects_the_credential(superuser_client):
    assert settings.MICROSOFT_CLIENT_ID is not None
    AppCredentialHealth.objects.create(client_id=settings.MICROSOFT_CLIENT_ID, status=CredentialStatus.REJECTED)
    for page in ("/admin/", "/admin/tenants/organization/", "/admin/audit/auditevent/"):
        assert (
            "Microsoft rejects the portal&#x27;s application credential" in superuser_client.get(page).content.decode()
        )


def test_banner_from_30_days_before_the_secret_expires(settings):
    today = datetime.date(2027, 1, 1)
    settings.MICROSOFT_CLIENT_SECRET_EXPIRES_ON = "2027-01-31"
    assert "expires on 2027-01-31 (30 days)" in credential_warnings(today)[0]
    settings.MICROSOFT_CLIENT_SECRET_EXPIRES_ON = "2027-02-01"
    assert credential_warnings(today) == []
    settings.MICROSOFT_CLIENT_SECRET_EXPIRES_ON = "2026-12-31"
    assert "expired on 2026-12-31" in credential_warnings(today)[0]
    settings.MICROSOFT_CLIENT_SECRET_EXPIRES_ON = "next year"
    assert "not an ISO date" in credential_warnings(today)[0]


def test_the_banner_shows_from_the_first_configured_warning(settings):
    today = datetime.date(2027, 1, 1)
    settings.MICROSOFT_CLIENT_SECRET_WARNING_DAYS = (14, 3)
    settings.MICROSOFT_CLIENT_SECRET_EXPIRES_ON = "2027-01-16"
    assert credential_warnings(today) == []
    settings.MICROSOFT_CLIENT_SECRET_EXPIRES_ON = "2027-01-15"
    assert "expires on 2027-01-15 (14 days)" in credential_warnings(today)[0]
