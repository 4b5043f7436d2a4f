"""The simulator's state in Django admin: every model's list and change page, and the fault actions."""

import pytest
from django.contrib.admin.sites import site
from django.urls import reverse

from m365sim.models import Application, ClientSecret, ServicePrincipal, Tenant, User
from tests.admin.staff import mfa_client

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])

SIM_MODELS = [model for model in site._registry if model._meta.app_label == "m365sim"]


@pytest.fixture
def staff(admin_user, contoso_consented):  # noqa: ARG001 (needed for its side effect: fixtures cannot take usefixtures)
    return mfa_client(admin_user)  # staff pass MFA before any admin page (accounts.middleware)


@pytest.mark.parametrize("model", SIM_MODELS, ids=lambda m: m.__name__)
def test_every_list_and_change_page_renders(staff, model):
    opts = model._meta
    assert staff.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")).status_code == 200
    obj = model.objects.first()
    if obj is not None:
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        assert staff.get(url).status_code == 200


def test_fault_actions(staff):
    staff.post(
        reverse("admin:m365sim_serviceprincipal_changelist"),
        {"action": "revoke_consent", "_selected_action": [ServicePrincipal.objects.get().pk]},
    )
    staff.post(
        reverse("admin:m365sim_application_changelist"),
        {"action": "expire_secrets", "_selected_action": [Application.objects.get().pk]},
    )
    Tenant.objects.update(throttle_next=5)
    staff.post(
        reverse("admin:m365sim_tenant_changelist"),
        {"action": "reset_faults", "_selected_action": [Tenant.objects.get().pk]},
    )

    assert not ServicePrincipal.objects.get().has_admin_consent
    assert all(secret.expired for secret in ClientSecret.objects.all())
    assert Tenant.objects.get().throttle_next == 0


def test_a_users_password_hash_is_never_shown_nor_filtered_on(staff):
    admin_user = User.objects.get(user_principal_name="admin@contoso.onmicrosoft.com")
    page = staff.get(reverse("admin:m365sim_user_change", args=[admin_user.pk])).content.decode()
    assert admin_user.password not in page
    assert "pbkdf2_sha256$" not in page
    assert "can sign in" in page.lower()

    prefix = admin_user.password[:12]
    probe = staff.get(reverse("admin:m365sim_user_changelist"), {"password__startswith": prefix})
    assert probe.status_code == 400
