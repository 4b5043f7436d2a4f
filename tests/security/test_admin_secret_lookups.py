"""Hash oracles in Django admin: no changelist filters, searches or shows a field that holds a secret or its hash
(named like password, secret, token, hash, key; or declared, as an authenticator's data). A filter on one in the
query string is refused with a message and the list shown unfiltered."""

from datetime import timedelta

import pytest
from allauth.mfa.models import Authenticator
from django.contrib import admin
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from audit.admin_log import AuditedAdminMixin, names_a_secret
from organizations.invitations import new_token
from organizations.models import Invitation
from tests.admin.staff import mfa_client, staff_user

pytestmark = pytest.mark.django_db

# The simulator's admin (development only) is outside the portal's admin rules.
PORTAL_ADMINS = {
    model: model_admin for model, model_admin in admin.site._registry.items() if model._meta.app_label != "m365sim"
}


def secret_fields(model, model_admin) -> list[str]:
    names = [field.name for field in model._meta.get_fields() if names_a_secret(field.name)]
    return [*names, *model_admin.secret_fields]


@pytest.fixture
def root():
    return mfa_client(staff_user("root@casportal.test", superuser=True))


@pytest.fixture
def invitation(cast) -> Invitation:
    _token, token_hash = new_token()
    return Invitation.objects.create(
        organization=cast.organization,
        email="new@contoso.test",
        token_hash=token_hash,
        invited_by=cast.owner.user,
        expires_at=timezone.now() + timedelta(days=7),
    )


def refused(response, changelist: str) -> str:
    assert response.status_code == 302
    assert response["Location"] == changelist
    return " ".join(str(message) for message in get_messages(response.wsgi_request))


def test_every_portal_admin_refuses_filters_on_secrets(root):
    checked = 0
    for model, model_admin in PORTAL_ADMINS.items():
        assert isinstance(model_admin, AuditedAdminMixin), model
        changelist = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for name in secret_fields(model, model_admin):
            for lookup in (name, f"{name}__startswith", f"{name}__regex", f"{name}__isnull"):
                message = refused(root.get(changelist, {lookup: "a"}), changelist)
                assert f"Filtering by {lookup} not allowed" in message
                checked += 1
    # accounts.User.password, mfa.Authenticator.data, tenants.Invitation.token_hash, the grant attempt's two
    # hashes, Celery beat's routing key: each in four lookups.
    assert checked >= 6 * 4


def test_a_token_hash_prefix_finds_no_invitation(root, invitation):
    changelist = reverse("admin:tenants_invitation_changelist")
    for lookup, value in (
        ("token_hash__startswith", invitation.token_hash[:2]),
        ("token_hash", invitation.token_hash),
        ("token_hash__gte", invitation.token_hash),
    ):
        message = refused(root.get(changelist, {lookup: value}), changelist)
        assert "the list is shown unfiltered" in message
    through = reverse("admin:tenants_organization_changelist")
    refused(root.get(through, {"invitations__token_hash__startswith": invitation.token_hash[:2]}), through)
    # Filters on what is not a secret still work.
    listed = root.get(changelist, {"role__exact": invitation.role})
    assert listed.status_code == 200
    assert invitation.email in listed.content.decode()


def test_no_admin_lists_searches_or_filters_a_secret(root):
    for model, model_admin in PORTAL_ADMINS.items():
        request = root.get("/admin/").wsgi_request
        named = [
            *model_admin.get_list_display(request),
            *(
                entry if isinstance(entry, str) else entry[0]
                for entry in model_admin.get_list_filter(request)
                if isinstance(entry, str | tuple)
            ),
            *model_admin.get_search_fields(request),
        ]
        for name in (name for name in named if isinstance(name, str)):
            first = name.lstrip("^=@").split("__")[0]
            assert not names_a_secret(name), (model, name)
            assert first not in getattr(model_admin, "secret_fields", ()), (model, name)


def test_the_invitation_page_shows_no_token_hash(root, invitation):
    for url in (
        reverse("admin:tenants_invitation_changelist"),
        reverse("admin:tenants_invitation_change", args=[invitation.pk]),
        reverse("admin:tenants_invitation_history", args=[invitation.pk]),
    ):
        response = root.get(url)
        assert response.status_code == 200
        assert invitation.token_hash not in response.content.decode()
        assert invitation.token_hash[:16] not in response.content.decode()


def test_an_authenticators_data_is_not_searchable(root):
    user = staff_user("other@casportal.test")
    mfa_client(user)
    changelist = reverse("admin:mfa_authenticator_changelist")
    stored = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP).data["secret"]
    refused(root.get(changelist, {"data__secret__startswith": stored[:4]}), changelist)
    refused(root.get(changelist, {"data__icontains": stored[:4]}), changelist)
