"""Fixtures every test can use: the cast, their clients, the task queue."""

import pytest
from celery.app.task import Task
from django.core.cache import cache
from django.test import Client

from organizations.models import Role
from tests.cast import Cast, QueuedTask, TaskQueue, client_for
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytest_plugins = ["tests.m365sim.fixtures", "tests.grant_driver"]


@pytest.fixture(autouse=True)
def _clear_cache():
    # allauth's rate limits live in the cache; each test starts with none spent.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def cast(db) -> Cast:  # noqa: ARG001 (needed for its side effect: fixtures cannot take usefixtures)
    organization = OrganizationFactory.create(name="Contoso", slug="contoso")
    owner = MembershipFactory.create(
        organization=organization, user=UserFactory.create(email="owner@contoso.test"), role=Role.ADMIN
    )
    reader = MembershipFactory.create(
        organization=organization, user=UserFactory.create(email="reader@contoso.test"), role=Role.READ_ONLY
    )
    outsider = MembershipFactory.create(user=UserFactory.create(email="outsider@fabrikam.test"), role=Role.ADMIN)
    return Cast(organization=organization, owner=owner, reader=reader, outsider=outsider)


@pytest.fixture
def owner_client(cast: Cast) -> Client:
    return client_for(cast.owner)


@pytest.fixture
def reader_client(cast: Cast) -> Client:
    return client_for(cast.reader)


@pytest.fixture
def outsider_client(cast: Cast) -> Client:
    return client_for(cast.outsider)


@pytest.fixture
def task_queue(monkeypatch, django_capture_on_commit_callbacks) -> TaskQueue:
    queue = TaskQueue(django_capture_on_commit_callbacks)

    def apply_async(self, args=None, kwargs=None, countdown=None, **options):
        queue.pending.append((QueuedTask(self.name, tuple(args or ()), dict(kwargs or {}), countdown), self))

    monkeypatch.setattr(Task, "apply_async", apply_async)
    return queue
