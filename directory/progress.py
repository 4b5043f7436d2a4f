"""What the progress page says of a sync run: what the run is, a bar per phase with counts (and the total where
Microsoft gives one), an estimate of the time left once it is stable, why it waits, and what it did."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from directory.models import (
    ACTIVE_SYNC_STATUSES,
    TERMINAL_SYNC_STATUSES,
    ChainState,
    SyncKind,
    SyncRun,
    SyncStatus,
    SyncStep,
    SyncTrigger,
)

STEP_ORDER = [SyncStep.DOMAINS, SyncStep.USERS, SyncStep.GROUPS, SyncStep.POLICY, SyncStep.DONE]
SUCCESS_SENTENCE = "Successfully created a service account and synced data."
NO_CHANGES = "No changes since the last sync."

# An estimate of the time left is shown once this share of the users is read and this long has passed: before,
# one slow or fast page would swing it.
ESTIMATE_AFTER_SHARE = 0.05
ESTIMATE_AFTER_SECONDS = 5


def heading(run: SyncRun, service_name: str) -> str:
    """What the run is, in the words of what started it."""
    return {
        SyncTrigger.GRANT: f"{service_name}: creating the service account and synchronizing",
        SyncTrigger.RECREATE: f"{service_name}: access token recreated, synchronizing again",
        SyncTrigger.MANUAL: "Sync now: synchronizing the directory",
        SyncTrigger.SCHEDULED: "Daily synchronization of the directory",
        SyncTrigger.EXTEND: "Extend to all users: synchronizing all users and groups",
        SyncTrigger.LIST_EDIT: "Synchronizing the changed list of chosen users",
    }[SyncTrigger(run.trigger)]


def _plural(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


def users(count: int) -> str:
    return _plural(count, "user", "users")


def groups(count: int) -> str:
    return _plural(count, "group", "groups")


def what_it_did(run: SyncRun) -> str:
    """The run's changes: a delta round counts what Microsoft said changed, a full round what it read."""
    if run.kind == SyncKind.DELTA:
        if not (run.added or run.updated or run.removed or run.memberships_synced):
            return NO_CHANGES
        parts = []
        changed = [named(count) for count, named in ((run.users_synced, users), (run.groups_synced, groups)) if count]
        if changed:
            parts.append(" and ".join(changed) + " added or updated")
        if run.removed:
            parts.append(f"{run.removed:,} removed")
        if run.memberships_synced:
            parts.append(_plural(run.memberships_synced, "membership change", "membership changes"))
        return "Since the last sync: " + ", ".join(parts) + "."
    read = f"{users(run.users_synced)} and {groups(run.groups_synced)} synchronized"
    if not (run.added or run.removed):
        return f"{read}; nothing new, nothing removed."
    changes = [
        text for count, text in ((run.added, f"{run.added:,} new"), (run.removed, f"{run.removed:,} removed")) if count
    ]
    return f"{read}: {', '.join(changes)}."


@dataclass(frozen=True)
class Phase:
    label: str
    state: str  # "done", "running", "pending" or "failed"
    done: int
    total: int | None  # None: Microsoft gives no total
    remaining: timedelta | None = None  # an estimate of the time left, once it is stable

    @property
    def percent(self) -> int | None:
        if self.total is None:
            return None
        if self.state == "done":
            return 100
        return min(100, round(100 * self.done / self.total)) if self.total else 0

    @property
    def count(self) -> str:
        if self.state == "pending":
            return ""
        if self.total is not None:
            return f"{self.done:,} of {max(self.total, self.done):,}"
        return f"{self.done:,}" if self.state == "done" else f"{self.done:,} so far"


@dataclass(frozen=True)
class Wait:
    """A batch that Microsoft made wait: Retry-After when it throttled, else the back-off after an error."""

    throttled: bool
    seconds: int
    resumes_at: datetime
    attempt: int
    reason: str

    @property
    def text(self) -> str:
        if self.throttled:
            return f"Microsoft asked us to wait {self.seconds:,} s: it limits how fast an application may read."
        return (
            f"Microsoft 365 did not answer ({self.reason}); trying again after {self.seconds:,} s, "
            f"attempt {self.attempt} of {settings.SYNC_MAX_RETRIES}."
        )


def _wait_key(run: SyncRun) -> str:
    return f"sync-run-wait:{run.public_id}"


def record_wait(run: SyncRun, *, seconds: float, countdown: float, throttled: bool, attempt: int, reason: str) -> None:
    """The engine tells the page why the next batch waits and until when (kept in the cache: it matters only
    while the wait lasts)."""
    resumes_at = timezone.now() + timedelta(seconds=countdown)
    cache.set(
        _wait_key(run),
        {
            "throttled": throttled,
            "seconds": round(seconds),
            "resumes_at": resumes_at.isoformat(),
            "attempt": attempt,
            "reason": reason,
        },
        timeout=round(countdown) + 60,
    )


def current_wait(run: SyncRun, now: datetime) -> Wait | None:
    if run.status not in ACTIVE_SYNC_STATUSES:
        return None
    stored = cache.get(_wait_key(run))
    if not stored:
        return None
    wait = Wait(
        throttled=stored["throttled"],
        seconds=stored["seconds"],
        resumes_at=datetime.fromisoformat(stored["resumes_at"]),
        attempt=stored["attempt"],
        reason=stored["reason"],
    )
    return wait if wait.resumes_at > now else None


def users_remaining(run: SyncRun, now: datetime) -> timedelta | None:
    """Time left to read the users of a full round, at the average pace since the round began; None until enough
    is read for that pace to mean something, and when there is no total to go by."""
    if run.kind != SyncKind.FULL or run.step != SyncStep.USERS or not run.users_total or not run.round_started_at:
        return None
    spent = (now - run.round_started_at).total_seconds()
    done, total = run.users_synced, max(run.users_total, run.users_synced)
    if done >= total or done < max(1, total * ESTIMATE_AFTER_SHARE) or spent < ESTIMATE_AFTER_SECONDS:
        return None
    return timedelta(seconds=spent * (total - done) / done)


MINUTE, TEN_MINUTES = 60, 600


def about(remaining: timedelta) -> str:
    """An estimate as a person says it: rounded, so it does not flicker, and never zero while work remains."""
    seconds = remaining.total_seconds()
    if seconds < MINUTE:
        return f"about {max(10, round(seconds / 10) * 10)} s"
    if seconds < TEN_MINUTES:
        minutes, rest = divmod(round(seconds / 30) * 30, 60)
        return f"about {minutes} min {rest:02d} s" if rest else f"about {minutes} min"
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    return f"about {hours} h {minutes:02d} min" if hours else f"about {minutes} min"


@dataclass(frozen=True)
class Step:
    """A step of a first grant around the phases: the service account, the chosen policy."""

    label: str
    state: str  # "done", "running", "pending", "failed" or "skipped"
    detail: str = ""


@dataclass(frozen=True)
class Progress:
    heading: str
    of_service: bool  # a grant's or a Recreate's run, watched under its service; else the organization's directory
    kind: str
    phases: list[Phase]
    before: list[Step]
    after: list[Step]
    elapsed: timedelta  # of the run alone
    waited_for_access: timedelta | None  # a grant's wait for Microsoft before the run
    wait: Wait | None
    finished: bool
    succeeded: bool
    outcome: str  # what the run did, once it succeeded

    @property
    def is_grant(self) -> bool:
        return bool(self.before)


def _state(run: SyncRun, step: SyncStep) -> str:
    position, current = STEP_ORDER.index(step), STEP_ORDER.index(SyncStep(run.step))
    if run.status == SyncStatus.SUCCEEDED or position < current:
        return "done"
    if position == current:
        return "failed" if run.status == SyncStatus.FAILED else "running"
    return "pending"


def _groups_state(run: SyncRun) -> str:
    """The groups phase runs by a chain of its own, beside the users phase or after it."""
    if run.groups_chain == ChainState.DONE:
        return "done"
    if run.groups_chain == ChainState.RUNNING and run.status != SyncStatus.SUCCEEDED:
        return "failed" if run.status == SyncStatus.FAILED else "running"
    return _state(run, SyncStep.GROUPS)


def _kind(run: SyncRun) -> str:
    if run.kind == SyncKind.DELTA:
        return "Delta: only what changed in Microsoft 365 since the last sync."
    if run.kind == SyncKind.CERTAIN_USERS:
        return "Certain users: the chosen users and the groups they belong to."
    reason = f" — {fallback_phrase(run.fallback_reason)}" if run.fallback_reason else ""
    return f"Full: every user and group{reason}."


# Why a delta run became a full one: the sentence the run stores, and the short phrase the pages show.
DELTA_LINK_EXPIRED = "Microsoft no longer knows the last delta token (it expires after about 7 days)."
NO_ROUND_TO_CONTINUE = "No complete round to continue from."
RESET_REASON = "Microsoft asked for a full synchronization (a synchronization reset)."
FALLBACK_PHRASES = {
    DELTA_LINK_EXPIRED: "Microsoft's delta token had expired",
    NO_ROUND_TO_CONTINUE: "no complete sync to continue from",
    RESET_REASON: "Microsoft asked to start again (a synchronization reset)",
}


def fallback_phrase(reason: str) -> str:
    return FALLBACK_PHRASES.get(reason, reason.rstrip("."))


def describe_progress(
    run: SyncRun, *, service_name: str, policy_name: str | None, waited_for_access: timedelta | None = None
) -> Progress:
    now = timezone.now()
    start = run.started_at or run.queued_at
    delta = run.kind == SyncKind.DELTA
    users_state, groups_state = _state(run, SyncStep.USERS), _groups_state(run)
    phases = [
        Phase(
            "Users changed" if delta else "Users synchronized",
            users_state,
            run.users_synced,
            run.users_total,
            users_remaining(run, now) if run.status in ACTIVE_SYNC_STATUSES else None,
        ),
        Phase("Groups changed" if delta else "Groups synchronized", groups_state, run.groups_synced, run.groups_total),
        Phase(
            "Membership changes" if delta else "Memberships synchronized", groups_state, run.memberships_synced, None
        ),
    ]
    before, after = [], []
    if run.trigger == SyncTrigger.GRANT:
        before = [Step("Service account created", "done")]
        if policy_name:
            after = [Step("Policy enabled", _state(run, SyncStep.POLICY), policy_name)]
        else:
            after = [Step("Policy", "skipped", "No policy chosen")]
    succeeded = run.status == SyncStatus.SUCCEEDED
    return Progress(
        heading=heading(run, service_name),
        of_service=run.trigger in (SyncTrigger.GRANT, SyncTrigger.RECREATE),
        kind=_kind(run),
        phases=phases,
        before=before,
        after=after,
        elapsed=(run.finished_at or now) - start,
        waited_for_access=waited_for_access,
        wait=current_wait(run, now),
        finished=run.status in TERMINAL_SYNC_STATUSES,
        succeeded=succeeded,
        outcome=what_it_did(run) if succeeded else "",
    )
