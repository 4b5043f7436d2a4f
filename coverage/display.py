"""What the pages say of coverage: the figures ("287 of 303 mailboxes"), the status line of a service, and for each
state why Microsoft 365 left its objects uncovered and what an administrator does about it there."""

from dataclasses import dataclass

from django.conf import settings

from coverage.models import SERVICE_OBJECTS, SERVICE_STATES, CoverageState, ServiceCoverage
from coverage.services import NOT_CHECKED_YET
from organizations.models import ServiceKind


def objects(kind: str, n: int) -> str:
    """ "1 mailbox", "287 mailboxes"."""
    singular, plural = SERVICE_OBJECTS[ServiceKind(kind)]
    return f"{n:,} {singular if n == 1 else plural}"


def figure(kind: str, summary: ServiceCoverage) -> str:
    """ "287 of 303 mailboxes": covered, then in scope."""
    _, plural = SERVICE_OBJECTS[ServiceKind(kind)]
    if summary.in_scope == 1:
        return f"{summary.covered} of {objects(kind, 1)}"
    return f"{summary.covered:,} of {summary.in_scope:,} {plural}"


def verified(summary: ServiceCoverage | None) -> bool:
    return summary is not None and summary.verified_at is not None


@dataclass(frozen=True)
class CoverageStatus:
    """A protected service's status as its coverage makes it: the headline and its figure, with the tone."""

    headline: str
    figure: str
    tone: str  # Bootstrap's text-bg-{tone}
    dropped: bool = False

    @property
    def label(self) -> str:
        return f"{self.headline}: {self.figure}" if self.dropped else f"{self.headline} · {self.figure}"


def coverage_status(kind: str, summary: ServiceCoverage | None, *, testing: bool) -> CoverageStatus | None:
    """What a protected service's last verification found; None before the first one, when the pages keep the
    status of the grant and say apart that coverage is not verified yet. A drop warns until coverage is back."""
    if not verified(summary):
        return None
    assert summary is not None  # verified
    if summary.dropped:
        return CoverageStatus("Coverage dropped", figure(kind, summary), "warning", dropped=True)
    if testing:
        all_covered = summary.covered == summary.in_scope
        return CoverageStatus(
            "Testing", objects(kind, summary.covered) if all_covered else figure(kind, summary), "warning"
        )
    if summary.in_scope == 0:
        return CoverageStatus("Protected", objects(kind, 0), "success")
    if summary.covered == 0:
        return CoverageStatus("Not covered", figure(kind, summary), "danger")
    return CoverageStatus("Protected", figure(kind, summary), "success")


def compact(kind: str, summary: ServiceCoverage | None) -> str:
    """All organizations' short form: "287/303 mailboxes", or "not verified yet"."""
    if not verified(summary):
        return "not verified yet"
    assert summary is not None
    _, plural = SERVICE_OBJECTS[ServiceKind(kind)]
    return f"{summary.covered:,}/{summary.in_scope:,} {plural}"


@dataclass(frozen=True)
class Command:
    text: str  # PowerShell, as the administrator types it
    does: str


@dataclass(frozen=True)
class Advice:
    """Why objects are in a state, and what to do in Microsoft 365; each paragraph is one fact."""

    reason: str
    kinds: tuple[tuple[str, str], ...] = ()  # (name, what it means) when Microsoft's answer fits several causes
    todo: tuple[str, ...] = ()
    commands: tuple[Command, ...] = ()
    run_in: str = ""  # where the commands run


def plural(kind: str) -> str:
    return SERVICE_OBJECTS[ServiceKind(kind)][1]


def rechecked_daily(kind: str) -> str:
    return f"casportal checks these {plural(kind)} again {recheck_interval()}."


def recheck_interval() -> str:
    """How often an object that is not covered is checked again (COVERAGE_UNCOVERED_RECHECK_SECONDS; the probe is
    hourly, so anything shorter is every verification)."""
    hours = settings.COVERAGE_UNCOVERED_RECHECK_SECONDS / 3600
    if hours <= 1:
        return "at every verification"
    return f"every {hours:g} hours"


def advice(kind: str, state: str, *, client_id: str) -> Advice | None:
    """For a state of a service's objects (or `NOT_CHECKED_YET`); none for covered objects."""
    if state == CoverageState.COVERED:
        return None
    if state == NOT_CHECKED_YET:
        return Advice(
            f"These {plural(kind)} came into scope after the last verification "
            "(their users synchronized or chosen since): casportal has not checked them yet.",
            todo=("Nothing to do: the next verification checks them.",),
        )
    if state == CoverageState.UNCHECKED:
        return Advice(
            f"Microsoft's answer did not say whether casportal can reach these {plural(kind)} "
            "(each row shows what Microsoft answered): they could not be checked.",
            todo=("Nothing to do unless it persists: they are checked again at the next verification.",),
        )
    if state == CoverageState.NO_MAILBOX:
        return Advice(
            "Microsoft 365 has no Exchange Online mailbox for these users: unlicensed, not yet provisioned (a "
            "mailbox appears some time after a licence), inactive or soft-deleted, or hosted on-premises.",
            todo=(
                "Assign each user a licence that includes Exchange Online, then allow some time for Microsoft to "
                "create the mailbox.",
                "Restore a soft-deleted or inactive mailbox if the user still needs one; a mailbox hosted "
                "on-premises is protected only once it moves to Exchange Online.",
                rechecked_daily(kind),
            ),
        )
    if state == CoverageState.POLICY_REFUSED:
        # Application access policies, their two access rights, Test-ApplicationAccessPolicy and the delay of over
        # an hour before a change applies: https://learn.microsoft.com/graph/auth-limit-mailbox-access
        return Advice(
            "Microsoft refused casportal's application access to these mailboxes (403 ErrorAccessDenied): an Exchange "
            "Online application access policy applies to them. Microsoft's answer does not say which kind of policy:",
            kinds=(
                (
                    "RestrictAccess",
                    "casportal's application may reach only the members of a group, and these users are outside "
                    "it: add them to that mail-enabled security group, or remove the policy.",
                ),
                (
                    "DenyAccess",
                    "These users are in a group casportal's application is denied: take them out of that group, "
                    "or remove the policy.",
                ),
            ),
            todo=(
                "Changes to an application access policy can take over an hour to apply; "
                + rechecked_daily(ServiceKind.EXCHANGE_ONLINE),
            ),
            commands=(
                Command("Get-ApplicationAccessPolicy", "lists the policies, each with its access right and group"),
                Command(
                    f"Test-ApplicationAccessPolicy -Identity <user> -AppId {client_id}",
                    "tells whether the policies grant or deny casportal's application one user's mailbox",
                ),
            ),
            run_in="Exchange Online PowerShell",
        )
    if state == CoverageState.NO_DRIVE:
        # OneDrive is created at first use or on request: https://learn.microsoft.com/sharepoint/pre-provision-accounts
        return Advice(
            "Microsoft 365 has no OneDrive for these users: not licensed for OneDrive, or not provisioned yet "
            "(a OneDrive is often created only when its user first opens it).",
            todo=(
                "Assign each user a licence that includes OneDrive (SharePoint Online).",
                "Have the users open OneDrive once, or pre-provision their OneDrive with the SharePoint Online "
                "Management Shell.",
                rechecked_daily(kind),
            ),
            commands=(
                Command(
                    "Request-SPOPersonalSite -UserEmails <user>",
                    "queues the creation of a licensed user's OneDrive (at most 200 users a call)",
                ),
            ),
            run_in="the SharePoint Online Management Shell",
        )
    if state == CoverageState.NOT_READABLE:
        if kind == ServiceKind.SHAREPOINT_ONLINE:
            return Advice(
                "Microsoft lists these sites to casportal's application but refused to read them (each row shows "
                "what Microsoft answered).",
                todo=(
                    "In the SharePoint admin center, check that each site is active and not locked (a site locked "
                    "with No access refuses every reader).",
                    "casportal reads these sites again at every verification.",
                ),
            )
        return Advice(
            "Microsoft lists these teams to casportal's application but refused to read them (each row shows what "
            "Microsoft answered).",
            todo=(
                "In the Teams admin center, check that each team still exists.",
                "casportal reads these teams again at every verification.",
            ),
        )
    return None


def states_of(kind: str) -> tuple[CoverageState, ...]:
    return SERVICE_STATES[ServiceKind(kind)]
