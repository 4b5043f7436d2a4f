"""The simulator's admin: provisioning a mailbox or a OneDrive now, and lifting an application access policy."""

import pytest
from django.conf import settings
from django.urls import reverse

from m365sim import services
from m365sim.models import AccessPolicy, User
from tests.admin.staff import mfa_client

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


@pytest.fixture
def staff(admin_user, contoso_consented):  # noqa: ARG001 (needed for its side effect: fixtures cannot take usefixtures)
    return mfa_client(admin_user)


def test_provision_a_users_mailbox_and_drive(staff):
    alex = User.objects.get(user_principal_name="alex@contoso.onmicrosoft.com")
    services.set_mailbox(alex, "pending")
    services.set_drive(alex, "not_provisioned")
    changelist = reverse("admin:m365sim_user_changelist")
    for action in ("provision_mailbox", "provision_drive"):
        staff.post(changelist, {"action": action, "_selected_action": [alex.pk]})
    alex.refresh_from_db()
    assert (alex.mailbox, alex.drive) == ("provisioned", "provisioned")
    assert staff.get(changelist, {"drive": "provisioned"}).status_code == 200


def test_lift_an_access_policy(staff, contoso_consented):
    group = services.add_group(contoso_consented, display_name="Scanned", mail_enabled=True)
    policy = services.apply_access_policy(
        contoso_consented, group, access_right="DenyAccess", app_id=str(settings.MICROSOFT_CLIENT_ID)
    )
    changelist = reverse("admin:m365sim_accesspolicy_changelist")
    assert "DenyAccess" in staff.get(changelist).content.decode()
    assert staff.get(reverse("admin:m365sim_accesspolicy_change", args=[policy.pk])).status_code == 200
    staff.post(changelist, {"action": "lift", "_selected_action": [policy.pk]})
    assert AccessPolicy.objects.get().lifted_at is not None
