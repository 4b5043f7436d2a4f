"""No admin page of a fully provisioned organization shows a secret."""

import pytest
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib import admin
from django.urls import reverse

from grant.models import GrantAttempt
from grant.services import start_grant
from microsoft import identity
from organizations.models import Invitation, ProtectedService
from organizations.services import invite_member
from tests.admin.staff import TOTP_SECRET

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


def test_no_admin_page_shows_a_secret(cast, driver, contoso, superuser_client):
    assert driver.grant().status_code == 302
    driver.tasks.run()
    # An attempt in flight (state and session hashes, PKCE flow) and an open invitation (token hash).
    start_grant(
        service=ProtectedService.objects.get(organization=cast.organization, kind="teams"),
        actor=cast.owner.user,
        session_key="k" * 32,
        redirect_uri="http://127.0.0.1:8000/grant/consent/callback/",
    )
    invite_member(organization=cast.organization, email="new@contoso.test", role="admin", actor=cast.owner.user)
    access_token = identity.acquire_app_token(str(contoso.id)).access_token
    secrets = {
        "client secret": settings.MICROSOFT_CLIENT_SECRET,
        "access token": access_token,
        "TOTP secret": TOTP_SECRET,
        **{f"stored TOTP {a.pk}": a.data["secret"] for a in Authenticator.objects.filter(type="totp")},
        **{f"invitation hash {i.pk}": i.token_hash for i in Invitation.objects.all()},
        **{f"state hash {a.pk}": a.state_hash for a in GrantAttempt.objects.exclude(state_hash=None)},
        **{f"session hash {a.pk}": a.session_key_hash for a in GrantAttempt.objects.all()},
    }
    assert all(secrets.values())

    pages = 0
    for model in admin.site._registry:
        if model._meta.app_label == "m365sim":
            continue  # the development-only simulator, whose job is to hold the simulated tenant's secrets
        info = (model._meta.app_label, model._meta.model_name)
        urls = [reverse("admin:{}_{}_changelist".format(*info))]
        urls += [
            reverse("admin:{}_{}_change".format(*info), args=[pk])
            for pk in model._default_manager.values_list("pk", flat=True)[:5]
        ]
        for url in urls:
            response = superuser_client.get(url)
            assert response.status_code == 200, url
            body = response.content.decode()
            for name, secret in secrets.items():
                assert secret not in body, f"{name} on {url}"
            pages += 1
    assert pages > 40
