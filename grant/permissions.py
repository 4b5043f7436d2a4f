"""What each protected service lets casportal do, and the Microsoft Graph permissions it uses, for the Grant Access
form. Names and descriptions are Microsoft's (https://learn.microsoft.com/graph/permissions-reference).

Admin consent with the `/.default` scope grants every application permission of casportal's app registration at
once (static consent: https://learn.microsoft.com/entra/identity-platform/consent-types-developer), so Microsoft's
consent page lists them all, whichever service is being granted; the form says so.
"""

from dataclasses import dataclass

from organizations.models import ServiceKind


@dataclass(frozen=True)
class Permission:
    name: str
    description: str


@dataclass(frozen=True)
class ServiceAccess:
    does: str  # "casportal …"
    permissions: tuple[Permission, ...]


SERVICE_ACCESS = {
    ServiceKind.EXCHANGE_ONLINE: ServiceAccess(
        "reads and writes the mail in your organization's mailboxes, to scan it and act on the threats it finds",
        (Permission("Mail.ReadWrite", "Read and write mail in all mailboxes"),),
    ),
    ServiceKind.SHAREPOINT_ONLINE: ServiceAccess(
        "reads the documents and list items of your SharePoint sites to scan them",
        (Permission("Sites.Read.All", "Read items in all site collections"),),
    ),
    ServiceKind.ONEDRIVE: ServiceAccess(
        "reads the files in your users' OneDrive to scan them",
        (Permission("Files.Read.All", "Read files in all site collections"),),
    ),
    ServiceKind.TEAMS: ServiceAccess(
        "lists your organization's teams to protect them",
        (Permission("Team.ReadBasic.All", "Get a list of all teams"),),
    ),
}

# Every service: the directory it protects, and the check that a Global Administrator grants.
DIRECTORY_PERMISSIONS = (
    Permission("User.Read.All", "Read all users' full profiles"),
    Permission("GroupMember.Read.All", "Read all group memberships"),
    Permission("Organization.Read.All", "Read organization information"),
    Permission("RoleManagement.Read.Directory", "Read all directory RBAC settings"),
)
# Delegated, for the sign-in that tells casportal who granted access.
SIGN_IN_PERMISSION = Permission("User.Read", "Sign in and read user profile")
