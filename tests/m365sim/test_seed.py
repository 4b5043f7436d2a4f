"""m365sim_seed: deterministic and idempotent; the demo accounts and the portal's app registration."""

import pytest
from django.conf import settings
from django.core.management import call_command

from m365sim.models import Application, Group, MemberObject, Membership, RoleAssignment, Tenant, User
from m365sim.seed import seed_tenant

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


def snapshot() -> tuple:
    return (
        sorted(User.objects.values_list("id", "user_principal_name", "account_enabled")),
        sorted(Group.objects.values_list("id", "display_name")),
        sorted(
            map(
                str, Membership.objects.values_list("group_id", "member_user_id", "member_group_id", "member_object_id")
            )
        ),
        sorted(MemberObject.objects.values_list("id", "kind", "display_name", "mail", "device_id", "app_id")),
    )


def test_seeding_twice_changes_nothing(capsys):
    call_command("m365sim_seed", "--tenant", "contoso", "--users", "30", "--groups", "12", "--members-per-group", "4")
    first = snapshot()
    call_command("m365sim_seed", "--tenant", "contoso", "--users", "30", "--groups", "12", "--members-per-group", "4")

    assert snapshot() == first
    # +1: group 11 nests group 10; +8: the contacts, devices and service principals, all in group 6
    assert (len(first[0]), len(first[1]), len(first[2])) == (33, 12, 12 * 4 + 1 + 8)
    kinds = [kind for _, kind, *_ in first[3]]
    assert sorted(kinds) == sorted(["orgContact"] * 3 + ["device"] * 3 + ["servicePrincipal"] * 2)
    assert "admin@contoso.onmicrosoft.com / m365-demo" in capsys.readouterr().out


def test_the_same_seed_gives_the_same_directory():
    seed_tenant("contoso", users=10, groups=2, members_per_group=3, seed=7)
    first = snapshot()
    Tenant.objects.all().delete()
    seed_tenant("contoso", users=10, groups=2, members_per_group=3, seed=7)
    assert snapshot() == first

    seed_tenant("contoso", users=10, groups=2, members_per_group=3, seed=8)
    assert len(snapshot()[0]) == 23  # another seed, other people


def test_contacts_devices_and_service_principals_are_members_of_some_groups():
    result = seed_tenant("contoso", users=10, groups=30, members_per_group=2)
    assert result.member_objects == 8
    by_kind = {
        kind: {
            str(group_id)
            for group_id in Membership.objects.filter(member_object__kind=kind).values_list("group_id", flat=True)
        }
        for kind in ("orgContact", "device", "servicePrincipal")
    }
    assert all(by_kind.values())  # each kind in at least one group
    holders = Group.objects.filter(memberships__member_object__isnull=False).distinct()
    assert sorted(int(name.rsplit(" ", 1)[1]) for name in holders.values_list("display_name", flat=True)) == [6, 16, 26]
    for obj in MemberObject.objects.all():
        # Each kind keeps its own property: a contact its mail, a device its deviceId, a service principal its appId.
        assert (bool(obj.mail), obj.device_id is not None, obj.app_id is not None) == (
            obj.kind == "orgContact",
            obj.kind == "device",
            obj.kind == "servicePrincipal",
        )


def test_fewer_than_six_groups_no_other_members():
    assert seed_tenant("contoso", users=5, groups=5, members_per_group=1).member_objects == 0


def test_demo_accounts_and_roles():
    seed_tenant("contoso", users=0, groups=0, members_per_group=0)
    roles = dict(RoleAssignment.objects.values_list("user__user_principal_name", "role_template_id"))
    assert roles == {
        "admin@contoso.onmicrosoft.com": "62e90394-69f5-4237-9190-012177145e10",
        "pra@contoso.onmicrosoft.com": "e8611ab8-c189-46e8-94e1-60213ab1f814",
    }
    for upn in ("admin@contoso.onmicrosoft.com", "alex@contoso.onmicrosoft.com"):
        assert User.objects.get(user_principal_name=upn).check_password("m365-demo")


def test_the_portal_app_registration_matches_the_settings():
    seed_tenant("contoso", users=0, groups=0, members_per_group=0)
    app = Application.objects.get()

    assert str(app.client_id) == settings.MICROSOFT_CLIENT_ID
    assert any(secret.matches(str(settings.MICROSOFT_CLIENT_SECRET)) for secret in app.secrets.all())
    assert "http://127.0.0.1:8000/grant/consent/callback/" in app.redirect_uris
    assert "http://localhost:8000/grant/identity/callback/" in app.redirect_uris
    assert app.emit_wids


def test_seeding_another_tenant_keeps_the_registrations_callbacks_and_switches(settings):
    settings.PORTAL_BASE_URL = "http://127.0.0.1:8100"
    seed_tenant("contoso", users=2, groups=0, members_per_group=0)
    Application.objects.update(emit_wids=False)

    settings.PORTAL_BASE_URL = "http://127.0.0.1:8000"
    seed_tenant("fabrikam", users=2, groups=0, members_per_group=0)

    application = Application.objects.get()
    assert "http://127.0.0.1:8100/grant/consent/callback/" in application.redirect_uris
    assert "http://127.0.0.1:8000/grant/consent/callback/" in application.redirect_uris
    assert application.emit_wids is False
