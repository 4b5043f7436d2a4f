"""Every URL that names an organization or a tenant-owned object: 404 for outsiders, 403 on writes for
read-only members. New patterns are picked up from the URLconf, so they are covered without a new test."""

import re
import uuid
from datetime import timedelta

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from directory.models import DirectoryGroup, GroupType, SelectedUser, SyncKind, SyncMode, SyncRun, SyncTrigger
from grant.models import GrantAttempt
from organizations.models import Invitation, Membership, Policy, ProtectedService, Role, ServiceKind
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

ORGANIZATION_KWARGS = {"org_slug"}
WRITE_METHODS = ("post", "put", "patch", "delete")


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


def organization_routes() -> list[str]:
    return [route for route in _walk(get_resolver().url_patterns) if "<slug:org_slug>" in route]


def _fill(route: str, values: dict[str, str]) -> str:
    def substitute(match: re.Match) -> str:
        name = match.group(1).split(":")[-1]
        if name not in values:
            raise AssertionError(f"No test value for URL parameter {name!r} in {route!r}: add one to `values`.")
        return values[name]

    return "/" + re.sub(r"<([^>]+)>", substitute, route)


@pytest.fixture
def url_values(cast) -> dict[str, str]:
    policy = Policy.objects.filter(organization=cast.organization).first()
    assert policy is not None
    other_member = MembershipFactory.create(organization=cast.organization, user=UserFactory.create(), role=Role.ADMIN)
    invitation = Invitation.objects.create(
        organization=cast.organization,
        email="invitee@contoso.test",
        token_hash="x" * 64,
        expires_at="2999-01-01T00:00:00Z",
    )
    service = ProtectedService.objects.get(organization=cast.organization, kind=ServiceKind.EXCHANGE_ONLINE)
    attempt = GrantAttempt.objects.create(
        organization=cast.organization,
        service=service,
        user=cast.owner.user,
        session_key_hash="0" * 64,
        sync_mode=SyncMode.ALL,
        expires_at=timezone.now() + timedelta(minutes=10),
    )
    selected = SelectedUser.objects.create(
        organization=cast.organization, microsoft_id=uuid.uuid4(), user_principal_name="alex@contoso.onmicrosoft.com"
    )
    group = DirectoryGroup.objects.create(
        organization=cast.organization,
        microsoft_id=uuid.uuid4(),
        display_name="Sales",
        group_type=GroupType.SECURITY,
        synced_at=timezone.now(),
    )
    run = SyncRun.objects.create(
        organization=cast.organization, service=service, kind=SyncKind.FULL, trigger=SyncTrigger.GRANT
    )
    return {
        "org_slug": cast.organization.slug,
        "group_id": str(group.microsoft_id),
        "policy_id": str(policy.public_id),
        "member_id": str(other_member.public_id),
        "invitation_id": str(invitation.public_id),
        "service_kind": service.kind,
        "attempt_id": str(attempt.public_id),
        "selected_id": str(selected.microsoft_id),
        "run_id": str(run.public_id),
    }


def test_there_are_organization_routes_to_check():
    assert len(organization_routes()) >= 8


@pytest.mark.usefixtures("cast")
def test_outsider_gets_404_on_every_method(outsider_client, url_values):
    for route in organization_routes():
        url = _fill(route, url_values)
        for method in ("get", *WRITE_METHODS):
            response = getattr(outsider_client, method)(url)
            assert response.status_code == 404, f"{method.upper()} {url} gave {response.status_code}"


@pytest.mark.usefixtures("cast")
def test_read_only_member_gets_403_on_every_write(reader_client, url_values):
    before = (
        Membership.objects.count(),
        Invitation.objects.count(),
        list(Policy.objects.values("enabled")),
        list(GrantAttempt.objects.values("step")),
        SelectedUser.objects.count(),
    )
    for route in organization_routes():
        url = _fill(route, url_values)
        for method in WRITE_METHODS:
            response = getattr(reader_client, method)(url, data={"role": "admin", "enabled": "1"})
            assert response.status_code == 403, f"{method.upper()} {url} gave {response.status_code}"
    after = (
        Membership.objects.count(),
        Invitation.objects.count(),
        list(Policy.objects.values("enabled")),
        list(GrantAttempt.objects.values("step")),
        SelectedUser.objects.count(),
    )
    assert before == after


# Pages that are only a form a read-only member could not submit: opened by their address, a 403 says why.
ADMIN_FORMS = ("services/<str:service_kind>/grant/", "services/<str:service_kind>/remove/")


@pytest.mark.usefixtures("cast")
def test_read_only_member_can_read_every_page_but_the_admins_forms(reader_client, url_values):
    readable = 0
    for route in organization_routes():
        url = _fill(route, url_values)
        status = reader_client.get(url).status_code
        if route.endswith(ADMIN_FORMS):
            assert status == 403, f"GET {url} gave {status}"
            continue
        assert status in (200, 302, 405), f"GET {url} gave {status}"
        readable += status == 200
    assert readable >= 5


@pytest.mark.usefixtures("cast")
def test_anonymous_visitor_is_sent_to_login(client, url_values):
    for route in organization_routes():
        response = client.get(_fill(route, url_values))
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_unknown_organization_is_the_same_404_as_a_foreign_one(cast, outsider_client):
    assert outsider_client.get("/o/does-not-exist/").status_code == 404
    assert outsider_client.get(f"/o/{cast.organization.slug}/").status_code == 404
