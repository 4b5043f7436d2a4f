"""The cast: an organization's owner (admin), a read-only member, and an outsider from another organization."""

from dataclasses import dataclass

import pytest
from django.core.cache import cache
from django.test import Client

from tenants.models import Membership, Role, Tenant
from tests.factories import MembershipFactory, TenantFactory, UserFactory


@dataclass
class Cast:
    tenant: Tenant
    owner: Membership
    reader: Membership
    outsider: Membership


@pytest.fixture(autouse=True)
def _clear_cache():
    # allauth's rate limits live in the cache; each test starts with none spent.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def cast(db) -> Cast:
    tenant = TenantFactory(name="Contoso", slug="contoso")
    owner = MembershipFactory(tenant=tenant, user=UserFactory(email="owner@contoso.test"), role=Role.ADMIN)
    reader = MembershipFactory(tenant=tenant, user=UserFactory(email="reader@contoso.test"), role=Role.READ_ONLY)
    outsider = MembershipFactory(user=UserFactory(email="outsider@fabrikam.test"), role=Role.ADMIN)
    return Cast(tenant=tenant, owner=owner, reader=reader, outsider=outsider)


def client_for(membership: Membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


@pytest.fixture
def owner_client(cast: Cast) -> Client:
    return client_for(cast.owner)


@pytest.fixture
def reader_client(cast: Cast) -> Client:
    return client_for(cast.reader)


@pytest.fixture
def outsider_client(cast: Cast) -> Client:
    return client_for(cast.outsider)
