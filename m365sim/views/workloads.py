"""Microsoft Graph v1.0: what an app-only token can reach of each protected service, object by object.

Exchange Online (a user's Inbox), OneDrive (a user's drive), SharePoint (sites) and Microsoft Teams (teams).
"""

import base64
import datetime as dt
import uuid
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from m365sim import directory, workloads
from m365sim.models import Group, Site, Tenant, User
from m365sim.views.graph import _get_user, _iso, _live_groups, _page, _select, _shape
from m365sim.views.graph_request import BATCH_MAILBOXES, Caller, GraphProblem, graph_endpoint

# Get mailFolder: Mail.ReadBasic.All, Mail.Read or Mail.ReadWrite. https://learn.microsoft.com/graph/api/mailfolder-get
MAIL_READ = ("Mail.ReadBasic.All", "Mail.Read", "Mail.ReadWrite")
# Get drive: Files.Read.All, Files.ReadWrite.All, Sites.Read.All or Sites.ReadWrite.All.
# https://learn.microsoft.com/graph/api/drive-get
DRIVE_READ = ("Files.Read.All", "Files.ReadWrite.All", "Sites.Read.All", "Sites.ReadWrite.All")
# sites: getAllSites and Get site: https://learn.microsoft.com/graph/api/site-getallsites,
# https://learn.microsoft.com/graph/api/site-get (the simulator has no Sites.Selected grants)
SITES_READ = ("Sites.Read.All", "Sites.ReadWrite.All")
# List teams and Get team: https://learn.microsoft.com/graph/api/teams-list, https://learn.microsoft.com/graph/api/team-get
TEAMS_READ = ("Team.ReadBasic.All", "TeamSettings.Read.All", "TeamSettings.ReadWrite.All")
# Outlook service limits: "4 concurrent requests" per app per mailbox (and 10,000 requests in 10 minutes, which
# the simulator does not count). https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits
MAILBOX_CONCURRENCY = 4

# Well-known folder names: https://learn.microsoft.com/graph/api/resources/mailfolder
WELL_KNOWN_FOLDERS = {
    "inbox": "Inbox",
    "drafts": "Drafts",
    "sentitems": "Sent Items",
    "deleteditems": "Deleted Items",
    "junkemail": "Junk Email",
    "archive": "Archive",
    "msgfolderroot": "Top of Information Store",
}


def _exchange_user(tenant: Tenant, identifier: str) -> User:
    """Exchange's answer for a user it does not know, as Graph returns it (captured answers: 404
    ErrorInvalidUser "The requested user '…' is invalid.")."""
    try:
        return _get_user(tenant, identifier)
    except GraphProblem:
        raise GraphProblem(404, "ErrorInvalidUser", f"The requested user '{identifier}' is invalid.") from None


def _check_mailbox_concurrency(request: HttpRequest, caller: Caller, user: User) -> None:
    """In a parallel $batch, a fifth request to one mailbox runs concurrently with four others: Outlook answers
    429, as captured ("ApplicationThrottled", "Application is over its MailboxConcurrency limit.")."""
    mailboxes = request.META.get(BATCH_MAILBOXES)
    if mailboxes is None:
        return
    mailboxes[user.id] = mailboxes.get(user.id, 0) + 1
    if mailboxes[user.id] > MAILBOX_CONCURRENCY:
        raise GraphProblem(
            429,
            "ApplicationThrottled",
            "Application is over its MailboxConcurrency limit.",
            {"Retry-After": str(caller.tenant.throttle_retry_after)},
        )


def _folder_id(user: User, folder: str) -> str:
    raw = uuid.uuid5(user.id, f"folder:{folder}").bytes + user.id.bytes
    return "AAMk" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


@graph_endpoint("user.mailFolder", app=MAIL_READ, delegated=())
def mail_folder(request: HttpRequest, caller: Caller, user_id: str, folder: str) -> dict[str, Any]:
    user = _exchange_user(caller.tenant, user_id)
    _check_mailbox_concurrency(request, caller, user)
    now = timezone.now()
    if not workloads.has_mailbox(user, now):
        # The body Graph returns for a user without an Exchange Online mailbox (unlicensed, not provisioned yet,
        # inactive, soft-deleted or on-premises), as captured answers show it. Microsoft Learn documents the
        # code, not this message: https://learn.microsoft.com/graph/api/resources/mail-api-overview
        raise GraphProblem(
            404, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or is hosted on-premise."
        )
    if workloads.policy_refuses(user, str(caller.claims.get("appid", "")), now):
        # Handling API errors: https://learn.microsoft.com/graph/auth-limit-mailbox-access#handling-api-errors
        raise GraphProblem(403, "ErrorAccessDenied", "Access to OData is disabled.")
    name = WELL_KNOWN_FOLDERS.get(folder.lower())
    if name is None:
        raise GraphProblem(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    data = {
        "id": _folder_id(user, folder.lower()),
        "displayName": name,
        "parentFolderId": _folder_id(user, "msgfolderroot"),
        "childFolderCount": 0,
        "unreadItemCount": 0,
        "totalItemCount": 0,
        "isHidden": False,
    }
    fields = _select(request, "mailFolder", list(data), data)
    return {
        "@odata.context": f"{directory.GRAPH_PUBLIC_BASE}/$metadata#users('{user.id}')/mailFolders/$entity",
        **_shape(data, fields),
    }


def _drive_id(user: User) -> str:
    return "b!" + base64.urlsafe_b64encode(uuid.uuid5(user.id, "drive").bytes + user.id.bytes).decode().rstrip("=")


@graph_endpoint("user.drive", app=DRIVE_READ, delegated=())
def user_drive(request: HttpRequest, caller: Caller, user_id: str) -> dict[str, Any]:
    user = _get_user(caller.tenant, user_id)
    if not workloads.has_drive(user):
        # A user whose OneDrive is not provisioned (or who has no licence for it): the captured answer is
        # 404 ResourceNotFound "User's mysite not found."; Microsoft Learn documents that a OneDrive may need
        # provisioning first: https://learn.microsoft.com/sharepoint/pre-provision-accounts
        raise GraphProblem(404, "ResourceNotFound", "User's mysite not found.")
    personal = user.user_principal_name.replace("@", "_").replace(".", "_")
    data = {
        "id": _drive_id(user),
        "createdDateTime": _iso(user.created_at),
        "driveType": "business",
        "name": "OneDrive",
        "webUrl": f"https://{caller.tenant.slug}-my.sharepoint.com/personal/{personal}/Documents",
        "owner": {"user": {"id": str(user.id), "displayName": user.display_name}},
    }
    fields = _select(request, "drive", list(data), data)
    return {"@odata.context": f"{directory.GRAPH_PUBLIC_BASE}/$metadata#drives/$entity", **_shape(data, fields)}


def site_json(site: Site) -> dict[str, Any]:
    return {
        "id": site.id,
        "createdDateTime": _iso(site.created_at),
        "name": site.name,
        "displayName": site.display_name,
        "webUrl": site.web_url,
        "isPersonalSite": False,
        "root": {},
        "siteCollection": {"hostname": site.id.split(",", 1)[0]},
    }


SITE_FIELDS = list(site_json(Site(id="x", created_at=dt.datetime.now(dt.UTC))))


@graph_endpoint("sites.getAllSites", app=SITES_READ, delegated=())
def all_sites(request: HttpRequest, caller: Caller) -> dict[str, Any]:
    """Every site collection's root site, paged. The simulator keeps no personal (OneDrive) sites here."""
    fields = _select(request, "site", SITE_FIELDS, SITE_FIELDS)
    sites: QuerySet[Site] = Site.objects.filter(tenant=caller.tenant)
    return _page(request, caller, sites, lambda s: _shape(site_json(s), fields), "sites")


@graph_endpoint("site", app=SITES_READ, delegated=())
def site_detail(request: HttpRequest, caller: Caller, site_id: str) -> dict[str, Any]:
    site = Site.objects.filter(tenant=caller.tenant, id=site_id).first()
    if site is None:
        # itemNotFound: "The resource requested doesn't exist." https://learn.microsoft.com/graph/errors
        raise GraphProblem(404, "itemNotFound", "Item not found")
    fields = _select(request, "site", SITE_FIELDS, SITE_FIELDS)
    return {
        "@odata.context": f"{directory.GRAPH_PUBLIC_BASE}/$metadata#sites/$entity",
        **_shape(site_json(site), fields),
    }


def team_json(group: Group) -> dict[str, Any]:
    return {
        "id": str(group.id),
        "createdDateTime": _iso(group.created_at),
        "displayName": group.display_name,
        "description": group.description or None,
        "visibility": "private",
        "isArchived": False,
    }


TEAM_FIELDS = list(team_json(Group(created_at=dt.datetime.now(dt.UTC))))


def _teams(tenant: Tenant) -> QuerySet[Group]:
    return _live_groups(tenant).filter(is_team=True)


@graph_endpoint("teams", app=TEAMS_READ, delegated=())
def teams(request: HttpRequest, caller: Caller) -> dict[str, Any]:
    fields = _select(request, "team", TEAM_FIELDS, TEAM_FIELDS)
    return _page(request, caller, _teams(caller.tenant), lambda g: _shape(team_json(g), fields), "teams")


@graph_endpoint("team", app=TEAMS_READ, delegated=())
def team_detail(request: HttpRequest, caller: Caller, team_id: str) -> dict[str, Any]:
    try:
        team = _teams(caller.tenant).filter(pk=uuid.UUID(team_id)).first()
    except ValueError:
        team = None
    if team is None:
        # A group that is not a team (or no group): the captured answer is 404 NotFound "No team found with
        # Group Id {id}". Get team: https://learn.microsoft.com/graph/api/team-get
        raise GraphProblem(404, "NotFound", f"No team found with Group Id {team_id}")
    fields = _select(request, "team", TEAM_FIELDS, TEAM_FIELDS)
    return {
        "@odata.context": f"{directory.GRAPH_PUBLIC_BASE}/$metadata#teams/$entity",
        **_shape(team_json(team), fields),
    }
