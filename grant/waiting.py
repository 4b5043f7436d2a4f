"""The wait after both legs, while Microsoft spreads the new consent through its services: what it is waiting for,
for how long so far, and when to look again.

Microsoft Entra is eventually consistent: right after a consent the token endpoint may not know the service
principal yet (AADSTS7000229 or 700016), then issues tokens without the roles (Graph answers 403), and Graph may
refuse the application's tokens (401) a while longer; Microsoft advises retrying with backoff and gives no figure
(Microsoft identity blog, "Designing for Eventual Consistency for Microsoft Entra":
https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/). The budget is
GRANT_ACCESS_WAIT_SECONDS.
"""

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from http import HTTPStatus

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from directory.models import SyncRun
from grant.models import GrantAttempt, GrantStep
from microsoft import errors


class WaitStep(StrEnum):
    """What the last check found Microsoft still doing."""

    STARTING = "starting"
    SERVICE_PRINCIPAL = "service-principal"
    PERMISSIONS = "permissions"
    GRAPH = "graph"
    MICROSOFT_BUSY = "microsoft-busy"

    @property
    def waiting_for(self) -> str:
        """For the waiting page: 'Waiting for …'."""
        return {
            WaitStep.STARTING: "the first check of access",
            WaitStep.SERVICE_PRINCIPAL: "Microsoft to set up casportal in your tenant (its service principal)",
            WaitStep.PERMISSIONS: "Microsoft to give casportal the permissions you accepted",
            WaitStep.GRAPH: "Microsoft Graph to accept casportal's access",
            WaitStep.MICROSOFT_BUSY: "Microsoft to answer: it was busy or unreachable at the last check",
        }[self]

    @property
    def still(self) -> str:
        """For the failure after the budget: 'At the last check …'."""
        return {
            WaitStep.STARTING: "access had not been checked",
            WaitStep.SERVICE_PRINCIPAL: "Microsoft's sign-in service did not yet know casportal in your tenant",
            WaitStep.PERMISSIONS: "casportal's access did not yet carry the permissions you accepted",
            WaitStep.GRAPH: "Microsoft Graph did not yet accept casportal's access",
            WaitStep.MICROSOFT_BUSY: "Microsoft was busy or unreachable",
        }[self]


def still_propagating(exc: errors.MicrosoftError) -> WaitStep | None:
    """The step an answer during the wait means, or None when it is no propagation (a disabled application)."""
    if isinstance(exc, errors.ServicePrincipalMissing):
        return WaitStep.SERVICE_PRINCIPAL
    if isinstance(exc, errors.PermissionMissing):
        return WaitStep.PERMISSIONS
    if isinstance(exc, errors.ConsentRevoked):
        return WaitStep.GRAPH if exc.status == HTTPStatus.UNAUTHORIZED else None
    if isinstance(exc, errors.TransientError):
        return WaitStep.MICROSOFT_BUSY
    return None


@dataclass(frozen=True)
class AccessWait:
    step: WaitStep
    elapsed_seconds: int
    budget_seconds: int
    detail: str = ""  # Microsoft's own words at the last check


def record_wait(attempt: GrantAttempt, step: WaitStep, exc: errors.MicrosoftError) -> None:
    cache.set(_key(attempt), {"step": str(step), "detail": exc.answer[:300]}, _budget() + 600)


def access_wait(attempt: GrantAttempt) -> AccessWait:
    """Where the wait of an attempt awaiting access stands (the step survives only as long as the cache)."""
    assert attempt.access_deadline is not None
    budget = _budget()
    started = attempt.access_deadline - timedelta(seconds=budget)
    elapsed = min(budget, max(0, int((timezone.now() - started).total_seconds())))
    recorded = cache.get(_key(attempt)) or {}
    try:
        step = WaitStep(recorded.get("step", WaitStep.STARTING))
    except ValueError:
        step = WaitStep.STARTING
    return AccessWait(step=step, elapsed_seconds=elapsed, budget_seconds=budget, detail=recorded.get("detail", ""))


def time_waited_for_access(run: SyncRun) -> timedelta | None:
    """How long the grant that queued `run` waited for Microsoft to activate the permissions, once access came."""
    attempt = (
        GrantAttempt.objects.filter(
            service_id=run.service_id,
            step__in=(GrantStep.CHOOSING_USERS, GrantStep.PROVISIONING),
            access_deadline__isnull=False,
            finished_at__lte=run.queued_at,
        )
        .order_by("-finished_at")
        .only("access_deadline", "finished_at")
        .first()
    )
    if attempt is None or attempt.access_deadline is None or attempt.finished_at is None:
        return None
    started = attempt.access_deadline - timedelta(seconds=_budget())
    return max(timedelta(0), attempt.finished_at - started)


def next_check_in(attempt: GrantAttempt) -> float:
    """Backoff: wait about as long as the wait so far (from GRANT_ACCESS_RETRY_SECONDS up to
    GRANT_ACCESS_RETRY_MAX_SECONDS), and look once more right at the deadline."""
    assert attempt.access_deadline is not None
    now = timezone.now()
    elapsed = access_wait(attempt).elapsed_seconds
    remaining = (attempt.access_deadline - now).total_seconds()
    pause = min(max(settings.GRANT_ACCESS_RETRY_SECONDS, elapsed), settings.GRANT_ACCESS_RETRY_MAX_SECONDS)
    return max(0.0, min(float(pause), remaining))


def _budget() -> int:
    return int(settings.GRANT_ACCESS_WAIT_SECONDS)


def _key(attempt: GrantAttempt) -> str:
    return f"grant:access-wait:{attempt.pk}"
