"""The cast of a test: an organization's owner (admin), a read-only member, and an outsider from another
organization; and the Celery tasks a test queued, run on demand."""

from dataclasses import dataclass

from django.test import Client

from organizations.models import Membership, Organization


@dataclass
class Cast:
    organization: Organization
    owner: Membership
    reader: Membership
    outsider: Membership


def client_for(membership: Membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


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

    def run(self, max_tasks: int = 1000, *, hold: tuple[str, ...] = ()) -> int:
        """Run queued tasks (and those they queue) in order; returns how many ran. Tasks named in `hold` stay
        queued, as if no worker had taken them yet."""
        ran = 0
        while runnable := [entry for entry in self.pending if entry[0].name not in hold]:
            assert ran < max_tasks, f"more than {max_tasks} tasks: {self.names[:10]}"
            queued, task = runnable[0]
            self.pending.remove(runnable[0])
            # A worker's transactions commit: what the task queues on commit is queued.
            with self._capture_on_commit(execute=True):
                task.apply(args=queued.args, kwargs=queued.kwargs, throw=True)  # type: ignore[attr-defined]
            ran += 1
        return ran
