"""What each support group may do, on every model registered in admin and with every action."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import reverse

from directory.models import SyncSettings
from directory.runs import sync_settings_for
from support.staff import OPERATOR_GROUP, SUPPORT_ACTIONS_CODENAME

pytestmark = pytest.mark.django_db

# The simulator is development-only (never installed in production) and has its own database.
MODEL_ADMINS = [
    (model, model_admin) for model, model_admin in admin.site._registry.items() if model._meta.app_label != "m365sim"
]
SUPPORT_ACTIONS = {
    "accounts.User": {"reset_mfa"},
    "provisioning.GrantAttempt": {"cancel_stuck_grant"},
    "tenants.ProtectedService": {"retry_failed_provisioning"},
    "tenants.Organization": {
        "sync_now",
        "check_connection_now",
        "mark_access_token_invalid",
        "resend_invalid_token_email",
        "release_microsoft_tenant",
        "offboard_organization",
    },
}


def permissions(user, model_admin) -> dict[str, bool]:
    request = RequestFactory().get("/admin/")
    request.user = user
    return {
        "view": model_admin.has_view_permission(request),
        "add": model_admin.has_add_permission(request),
        "change": model_admin.has_change_permission(request),
        "delete": model_admin.has_delete_permission(request),
    }


def actions(user, model_admin) -> set[str]:
    request = RequestFactory().get("/admin/")
    request.user = user
    return set(model_admin.get_actions(request))


@pytest.mark.parametrize(("model", "model_admin"), MODEL_ADMINS, ids=[m._meta.label for m, _ in MODEL_ADMINS])
@pytest.mark.usefixtures("model")
def test_read_only_support_views_everything_and_changes_nothing(reader_staff, model_admin):
    assert permissions(reader_staff, model_admin) == {"view": True, "add": False, "change": False, "delete": False}
    assert actions(reader_staff, model_admin) == set()


@pytest.mark.parametrize(("model", "model_admin"), MODEL_ADMINS, ids=[m._meta.label for m, _ in MODEL_ADMINS])
def test_operators_view_everything_change_sync_settings_and_run_support_actions(operator_staff, model, model_admin):
    assert permissions(operator_staff, model_admin) == {
        "view": True,
        "add": False,
        "change": model is SyncSettings,
        "delete": False,
    }
    assert actions(operator_staff, model_admin) == SUPPORT_ACTIONS.get(model._meta.label, set())


@pytest.mark.usefixtures("cast")
def test_every_changelist_opens_for_both_groups(reader_staff_client, operator_client):
    for client in (reader_staff_client, operator_client):
        for model, _ in MODEL_ADMINS:
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
            assert client.get(url).status_code == 200, url


def test_read_only_support_cannot_save_or_add_or_delete(cast, reader_staff_client):
    sync_settings = sync_settings_for(cast.organization)
    change = reverse("admin:provisioning_syncsettings_change", args=[sync_settings.pk])
    page = reader_staff_client.get(change)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert reader_staff_client.post(change, {"mode": "certain"}).status_code == 403
    assert reader_staff_client.get(reverse("admin:tenants_organization_add")).status_code == 403
    assert (
        reader_staff_client.post(reverse("admin:tenants_organization_delete", args=[cast.organization.pk])).status_code
        == 403
    )
    membership = reverse("admin:tenants_membership_change", args=[cast.owner.pk])
    assert reader_staff_client.post(membership, {"role": "read-only"}).status_code == 403


def test_operators_may_open_the_sync_settings_form(cast, operator_client):
    sync_settings = sync_settings_for(cast.organization)
    page = operator_client.get(reverse("admin:provisioning_syncsettings_change", args=[sync_settings.pk]))
    assert 'name="_save"' in page.content.decode()


def test_a_missing_staff_group_comes_back_with_its_permissions_at_the_next_migrate():
    Group.objects.filter(name=OPERATOR_GROUP).delete()
    call_command("migrate", verbosity=0)
    operators = Group.objects.get(name=OPERATOR_GROUP)
    assert operators.permissions.filter(codename="view_organization").exists()
    assert operators.permissions.filter(codename=SUPPORT_ACTIONS_CODENAME).exists()
