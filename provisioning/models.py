"""Django creates permissions and sends `post_migrate` only for an app with a models module: this one names the
models that the grant, directory and connection apps keep under its label."""

from connection.models import AppCredentialHealth, ConnectionIncident, ServiceAccount
from directory.models import (
    DirectoryDomain,
    DirectoryGroup,
    DirectoryUser,
    GroupMembership,
    SelectedUser,
    SyncRun,
    SyncSettings,
)
from grant.models import GrantAttempt

__all__ = [
    "AppCredentialHealth",
    "ConnectionIncident",
    "DirectoryDomain",
    "DirectoryGroup",
    "DirectoryUser",
    "GrantAttempt",
    "GroupMembership",
    "SelectedUser",
    "ServiceAccount",
    "SyncRun",
    "SyncSettings",
]
