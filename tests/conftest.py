"""The cast: an organization's owner (admin), a read-only member, and an outsider from another organization."""

from dataclasses import dataclass

import pytest
from django.core.cache import cache
from django.test import Client

from organizations.models import Membership, Organization, Role
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytest_plugins = ["tests.m365sim.fixtures", "tests.grant_driver"]


@dataclass
class Cast:
    organization: Organization
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
    organization = OrganizationFactory(name="Contoso", slug="contoso")
    owner = MembershipFactory(organization=organization, user=UserFactory(email="owner@contoso.test"), role=Role.ADMIN)
    reader = MembershipFactory(
        organization=organization, user=UserFactory(email="reader@contoso.test"), role=Role.READ_ONLY
    )
    outsider = MembershipFactory(user=UserFactory(email="outsider@fabrikam.test"), role=Role.ADMIN)
    return Cast(organization=organization, owner=owner, reader=reader, outsider=outsider)


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


@dataclass
class QueuedTask:
    name: str
    args: tuple
    kwargs: dict
    countdown: float | None


class TaskQueue:
    """Tasks queued with `delay`/`apply_async` during a test, run on demand through Celery's own `apply`."""

    def __init__(self, capture_on_commit) -> None:
        self.pending: list[tuple[QueuedTask, object]] = []
        self._capture_on_commit = capture_on_commit

    @property
    def names(self) -> list[str]:
        return [queued.name for queued, _ in self.pending]

    def run(self, max_tasks: int = 1000) -> int:
        """Run queued tasks (and those they queue) in order; returns how many ran."""
        ran = 0
        while self.pending:
            assert ran < max_tasks, f"more than {max_tasks} tasks: {self.names[:10]}"
            queued, task = self.pending.pop(0)
            # A worker's transactions commit: what the task queues on commit is queued.
            with self._capture_on_commit(execute=True):
                task.apply(args=queued.args, kwargs=queued.kwargs, throw=True)  # type: ignore[attr-defined]
            ran += 1
        return ran


@pytest.fixture
def task_queue(monkeypatch, django_capture_on_commit_callbacks) -> TaskQueue:
    from celery.app.task import Task

    queue = TaskQueue(django_capture_on_commit_callbacks)

    def apply_async(self, args=None, kwargs=None, countdown=None, **options):
        queue.pending.append((QueuedTask(self.name, tuple(args or ()), dict(kwargs or {}), countdown), self))

    monkeypatch.setattr(Task, "apply_async", apply_async)
    return queue
