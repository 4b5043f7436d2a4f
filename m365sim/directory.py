"""Well-known identifiers of Microsoft Entra and Microsoft Graph that the simulator mirrors."""

from dataclasses import dataclass

GRAPH_RESOURCE_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_AUDIENCE = "https://graph.microsoft.com"
GRAPH_DEFAULT_SCOPE = "https://graph.microsoft.com/.default"
GRAPH_PUBLIC_BASE = "https://graph.microsoft.com/v1.0"
LOGIN_PUBLIC_HOST = "https://login.microsoftonline.com"

# Role template ids: https://learn.microsoft.com/entra/identity/role-based-access-control/permissions-reference
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
PRIVILEGED_ROLE_ADMINISTRATOR = "e8611ab8-c189-46e8-94e1-60213ab1f814"
USER_ADMINISTRATOR = "fe930be7-5e62-47db-91af-98c3a49a38b1"
GLOBAL_READER = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"
# Every member user carries this template id in `wids`.
DEFAULT_USER_ROLE = "b79fbf4d-3ef9-4689-8143-76b194e85509"

ROLE_NAMES = {
    GLOBAL_ADMINISTRATOR: "Global Administrator",
    PRIVILEGED_ROLE_ADMINISTRATOR: "Privileged Role Administrator",
    USER_ADMINISTRATOR: "User Administrator",
    GLOBAL_READER: "Global Reader",
}
ROLE_DESCRIPTIONS = {
    GLOBAL_ADMINISTRATOR: "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft "
    "Entra identities.",
    PRIVILEGED_ROLE_ADMINISTRATOR: "Can manage role assignments in Microsoft Entra ID, and all aspects of "
    "Privileged Identity Management.",
    USER_ADMINISTRATOR: "Can manage all aspects of users and groups, including resetting passwords for limited admins.",
    GLOBAL_READER: "Can read everything that a Global Administrator can, but not update anything.",
}
# Only these may grant tenant-wide admin consent to application permissions (Microsoft Graph app roles).
CONSENT_GRANTING_ROLES = frozenset({GLOBAL_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR})

# A Microsoft 365 E3 licence, for `assignedLicenses`.
SKU_ENTERPRISEPACK = "6fd2c87f-b296-42f0-b197-1e91e994b900"


@dataclass(frozen=True)
class Permission:
    name: str
    display_name: str
    description: str


# Graph permissions the portal's registration asks for, with the text the consent page shows.
# https://learn.microsoft.com/graph/permissions-reference
APPLICATION_PERMISSIONS = {
    p.name: p
    for p in [
        Permission(
            "User.Read.All",
            "Read all users' full profiles",
            "Allows the app to read user profiles without a signed in user.",
        ),
        Permission(
            "GroupMember.Read.All",
            "Read all group memberships",
            "Allows the app to read memberships and basic group properties for all groups without a signed-in user.",
        ),
        Permission(
            "Organization.Read.All",
            "Read organization information",
            "Allows the app to read the organization and related resources, without a signed-in user.",
        ),
        Permission(
            "RoleManagement.Read.Directory",
            "Read all directory RBAC settings",
            "Allows the app to read the role-based access control (RBAC) settings for your company's directory, "
            "without a signed-in user.",
        ),
        Permission(
            "Mail.ReadWrite",
            "Read and write mail in all mailboxes",
            "Allows the app to create, read, update, and delete mail in all mailboxes without a signed-in user.",
        ),
        Permission(
            "Sites.Read.All",
            "Read items in all site collections",
            "Allows the app to read documents and list items in all site collections without a signed in user.",
        ),
        Permission(
            "Files.Read.All",
            "Read files in all site collections",
            "Allows the app to read all files in all site collections without a signed in user.",
        ),
        Permission(
            "Team.ReadBasic.All", "Get a list of all teams", "Get a list of all teams, without a signed-in user."
        ),
    ]
}
DELEGATED_PERMISSIONS = {
    "User.Read": Permission(
        "User.Read",
        "Sign in and read user profile",
        "Allows users to sign-in to the app, and allows the app to read the profile of signed-in users.",
    ),
}
# OpenID Connect scopes: never consented separately, always granted with a delegated permission.
OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
