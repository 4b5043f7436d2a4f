"""What the progress page shows of a sync run: its steps, counts, time elapsed and an estimate of time left."""

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from directory.models import ACTIVE_SYNC_STATUSES, TERMINAL_SYNC_STATUSES, SyncRun, SyncStatus, SyncStep

STEP_ORDER = [SyncStep.DOMAINS, SyncStep.USERS, SyncStep.GROUPS, SyncStep.POLICY, SyncStep.DONE]
SUCCESS_SENTENCE = "Successfully created a service account and synced data."


@dataclass(frozen=True)
class StepLine:
    label: str
    state: str  # "done", "running", "pending" or "failed"
    detail: str = ""


@dataclass(frozen=True)
class Progress:
    steps: list[StepLine]
    elapsed: timedelta
    remaining: timedelta | None
    finished: bool
    succeeded: bool


def _state(run: SyncRun, step: SyncStep) -> str:
    position, current = STEP_ORDER.index(step), STEP_ORDER.index(SyncStep(run.step))
    if run.status == SyncStatus.SUCCEEDED or position < current:
        return "done"
    if position == current:
        return "failed" if run.status == SyncStatus.FAILED else "running"
    return "pending"


def _count(done: int, total: int | None) -> str:
    return f"{done:,} of {total:,}" if total is not None else f"{done:,}"


def describe_progress(run: SyncRun, policy_name: str | None) -> Progress:
    now = timezone.now()
    start = run.started_at or run.queued_at
    elapsed = (run.finished_at or now) - start
    remaining = None
    if run.status in ACTIVE_SYNC_STATUSES:
        total = (run.users_total or 0) + (run.groups_total or 0)
        done = run.users_synced + run.groups_synced
        if total and done:
            remaining = elapsed * max(total - done, 0) / done
    steps = [
        StepLine("Service account created", "done"),
        StepLine("Users synchronized", _state(run, SyncStep.USERS), _count(run.users_synced, run.users_total)),
        StepLine("Groups synchronized", _state(run, SyncStep.GROUPS), _count(run.groups_synced, run.groups_total)),
        StepLine(
            "Policy enabled",
            _state(run, SyncStep.POLICY),
            policy_name or "No policy was chosen",
        ),
    ]
    finished = run.status in TERMINAL_SYNC_STATUSES
    return Progress(steps, elapsed, remaining, finished, run.status == SyncStatus.SUCCEEDED)
