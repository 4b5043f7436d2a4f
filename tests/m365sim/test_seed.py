"""m365sim_seed: deterministic and idempotent; the demo accounts and the portal's app registration."""

import pytest
from django.conf import settings
from django.core.management import call_command

from m365sim.models import Application, Group, Membership, RoleAssignment, Tenant, User
from m365sim.seed import seed_tenant

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


def snapshot() -> tuple:
    return (
        sorted(User.objects.values_list("id", "user_principal_name", "account_enabled")),
        sorted(Group.objects.values_list("id", "display_name")),
        sorted(map(str, Membership.objects.values_list("group_id", "member_user_id", "member_group_id"))),
    )


def test_seeding_twice_changes_nothing(capsys):
    call_command("m365sim_seed", "--tenant", "contoso", "--users", "30", "--groups", "12", "--members-per-group", "4")
    first = snapshot()
    call_command("m365sim_seed", "--tenant", "contoso", "--users", "30", "--groups", "12", "--members-per-group", "4")

    assert snapshot() == first
    assert (len(first[0]), len(first[1]), len(first[2])) == (33, 12, 12 * 4 + 1)  # +1: group 11 nests group 10
    assert "admin@contoso.onmicrosoft.com / m365-demo" in capsys.readouterr().out


def test_the_same_seed_gives_the_same_directory():
    seed_tenant("contoso", users=10, groups=2, members_per_group=3, seed=7)
    first = snapshot()
    Tenant.objects.all().delete()
    seed_tenant("contoso", users=10, groups=2, members_per_group=3, seed=7)
    assert snapshot() == first

    seed_tenant("contoso", users=10, groups=2, members_per_group=3, seed=8)
    assert len(snapshot()[0]) == 23  # another seed, other people


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
