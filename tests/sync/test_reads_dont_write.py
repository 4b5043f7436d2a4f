"""Reads don't write: opening any page of an organization leaves every domain row as it was.

Two GETs write by design and are not pages of an organization: Microsoft's OAuth redirects (the consent and
identity callbacks) come back as GETs by protocol and carry the grant forward. And a read may keep its
bookkeeping: the session, and which organization a member opened last (where login lands).
"""

import importlib
import uuid

import pytest
from django.apps import apps
from django.db.models import Model
from django.urls import reverse

from directory import urls as directory_urls
from directory.models import DirectoryGroup, SyncMode, SyncRun, SyncSettings, SyncStatus
from grant import urls as grant_urls
from grant.models import GrantAttempt
from m365sim.models import Membership as SimMembership
from organizations import urls as organization_urls
from organizations.models import Membership, Organization

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])

DOMAIN_LABELS = ("tenants", "provisioning", "audit")
BOOKKEEPING: dict[type[Model], set[str]] = {Membership: {"last_used_at"}}
OAUTH_CALLBACKS = {"grant_consent_callback", "grant_identity_callback"}
# Actions: POST only, so they are not pages.
POST_ONLY = {
    "policy_toggle",
    "member_invite",
    "member_role",
    "member_remove",
    "invitation_revoke",
    "grant_cancel",
    "grant_resume",
    "sync_retry",
    "selected_user_add",
    "selected_users_add_from_group",
    "selected_users_add_found",
    "selected_user_remove",
    "selected_users_start",
    "sync_now",
}
SERVICE = "exchange-online"
NOT_GRANTED = "sharepoint-online"


def pages(organization) -> dict[str, tuple[str, dict]]:
    """Every GET page of the organization: URL name → (path, query)."""
    slug = organization.slug
    attempt = GrantAttempt.objects.filter(organization=organization).first()
    group = DirectoryGroup.objects.filter(organization=organization).first()
    run = SyncRun.objects.filter(organization=organization).first()
    service_pages = {
        "grant_start": [slug, NOT_GRANTED],
        "grant_status": [slug, SERVICE, attempt.public_id if attempt else uuid.uuid4()],
        "service_remove": [slug, SERVICE],
        "selected_users": [slug, SERVICE],
        "sync_progress": [slug, SERVICE],
        "directory_group": [slug, group.microsoft_id if group else uuid.uuid4()],
        "sync_run_progress": [slug, run.public_id if run else uuid.uuid4()],
    }
    listed: dict[str, tuple[str, dict]] = {
        name: (reverse(name, args=service_pages.get(name, [slug])), {})
        for name in (
            "dashboard",
            "policies",
            "activity",
            "members",
            "service_status",
            "extend_to_all_users",
            "sync_history",
            "directory_users",
            "directory_groups",
            *service_pages,
        )
    }
    listed["directory_users (search)"] = (reverse("directory_users", args=[slug]), {"q": "a"})
    listed["selected_users (search)"] = (reverse("selected_users", args=[slug, SERVICE]), {"q": "sales"})
    listed["selected_users (user search)"] = (reverse("selected_users", args=[slug, SERVICE]), {"user_q": "al"})
    return listed


def domain_rows() -> dict[str, list[dict]]:
    rows = {}
    for label in DOMAIN_LABELS:
        for model in apps.get_app_config(label).get_models():
            skipped = BOOKKEEPING.get(model, set())
            fields = [field.attname for field in model._meta.concrete_fields if field.attname not in skipped]
            rows[model._meta.label] = list(model._default_manager.order_by("pk").values(*fields))
    return rows


def assert_reads_dont_write(client, organization) -> None:
    before = domain_rows()
    for name, (path, query) in pages(organization).items():
        response = client.get(path, query)
        assert response.status_code in (200, 302, 404), (name, response.status_code)
        after = domain_rows()
        changed = [label for label in before if before[label] != after[label]]
        assert not changed, f"GET {name} changed {changed}"


def test_every_page_of_an_organization_is_read_here(cast):
    names = {
        pattern.name
        for pattern in organization_urls.organization_patterns
        + grant_urls.organization_patterns
        + directory_urls.organization_patterns
    }
    assert names - POST_ONLY == {name.split(" ")[0] for name in pages(cast.organization)}
    assert {pattern.name for pattern in grant_urls.callback_patterns} == OAUTH_CALLBACKS


def test_pages_of_an_organization_never_granted_write_nothing(cast, owner_client):
    assert_reads_dont_write(owner_client, cast.organization)


def test_pages_of_a_connected_organization_write_nothing(cast, driver, contoso):
    granted = driver.grant(mode="certain")
    assert granted.status_code == 302
    picker = reverse("selected_users", args=[cast.organization.slug, SERVICE])
    member = SimMembership.objects.filter(group__tenant=contoso, member_user__isnull=False, removed=False).first()
    assert member is not None
    assert member.member_user is not None
    driver.portal(
        "post",
        picker.replace("/users/", "/users/add/"),
        {"user_principal_name": member.member_user.user_principal_name},
    )
    driver.portal("post", picker.replace("/users/", "/users/start/"))
    driver.tasks.run()
    assert SyncRun.objects.get(organization=cast.organization).status == SyncStatus.SUCCEEDED
    assert DirectoryGroup.objects.filter(organization=cast.organization).exists()

    assert_reads_dont_write(driver.client, cast.organization)


@pytest.mark.usefixtures("db")
def test_an_organization_has_its_sync_settings_from_the_moment_it_exists():
    organization = Organization.objects.create(name="Fabrikam", slug="fabrikam")
    assert SyncSettings.objects.get(organization=organization).mode == SyncMode.ALL


def test_the_migration_gives_existing_organizations_their_sync_settings(cast):
    SyncSettings.objects.filter(organization=cast.organization).delete()
    migration = importlib.import_module("provisioning.migrations.0005_sync_settings_for_every_organization")
    migration.create_missing_sync_settings(apps, None)
    assert SyncSettings.objects.filter(organization=cast.organization).count() == 1
    assert SyncSettings.objects.count() == Organization.objects.count()
