"""The synchronized directory, the sync settings and the sync runs."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from organizations.models import Organization, ProtectedService

MAX_SELECTED_USERS = 100


class SyncMode(models.TextChoices):
    ALL = "all", "All users and groups of your organization"
    CERTAIN = "certain", "Certain users of your organization, for testing"


CERTAIN_USERS_REFUSED = (
    "Certain-users mode synchronizes only when access is granted or the chosen users change: "
    "manual and scheduled synchronization are not available. Extend to all users to synchronize on demand."
)


class SyncSettings(models.Model):
    """How an organization synchronizes its directory; one option for all its Microsoft 365 services."""

    organization = models.OneToOneField(
        Organization, db_column="tenant_id", on_delete=models.CASCADE, related_name="sync_settings"
    )
    mode = models.CharField(max_length=16, choices=SyncMode.choices, default=SyncMode.ALL)
    # Where the next delta round continues; stored only after a round is completely written.
    users_delta_link = models.TextField(blank=True)
    groups_delta_link = models.TextField(blank=True)
    daily_sync_time = models.TimeField(
        null=True, blank=True, help_text="UTC; empty: the default of the organization's region."
    )
    last_scheduled_on = models.DateField(null=True, blank=True, editable=False)
    # When the dispatcher next looks at this row (directory/schedule.py): never later than the daily sync's due
    # time, so that a tick reads the rows due and not every organization; empty: not computed yet.
    next_due_at = models.DateTimeField(null=True, blank=True, editable=False, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "provisioning"
        verbose_name = "sync settings"
        verbose_name_plural = "sync settings"

    def __str__(self) -> str:
        return f"{self.organization}: {self.get_mode_display()}"


def create_sync_settings(*, instance: Organization, created: bool, raw: bool = False, **kwargs: object) -> None:
    """A new organization starts with the default sync settings; a fixture being loaded brings its own."""
    if created and not raw:
        SyncSettings.objects.create(organization=instance)


class SelectedUser(models.Model):
    """A user chosen for certain-users mode (at most MAX_SELECTED_USERS per organization)."""

    organization = models.ForeignKey(
        Organization, db_column="tenant_id", on_delete=models.CASCADE, related_name="selected_users"
    )
    microsoft_id = models.UUIDField()
    user_principal_name = models.CharField(max_length=255)
    display_name = models.CharField(max_length=256, blank=True)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "provisioning"
        ordering = ["user_principal_name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "microsoft_id"], name="selected_user_unique_per_tenant")
        ]

    def __str__(self) -> str:
        return self.user_principal_name


class SyncKind(models.TextChoices):
    FULL = "full", "Full"
    DELTA = "delta", "Delta"
    CERTAIN_USERS = "certain-users", "Certain users"


class SyncTrigger(models.TextChoices):
    GRANT = "grant", "Access grant"
    MANUAL = "manual", "Sync now"
    SCHEDULED = "scheduled", "Daily schedule"
    EXTEND = "extend", "Extend to all users"
    RECREATE = "recreate", "Recreate access token"
    LIST_EDIT = "list-edit", "Synchronized users changed"


class SyncStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class SyncStep(models.TextChoices):
    DOMAINS = "domains", "Reading the organization"
    USERS = "users", "Synchronizing users"
    GROUPS = "groups", "Synchronizing groups"
    POLICY = "policy", "Enabling the policy"
    DONE = "done", "Done"


class ChainState(models.TextChoices):
    """Where a run's groups chain is; the users chain's place is the run's `step`."""

    PENDING = "pending", "Not started"
    RUNNING = "running", "Running"
    DONE = "done", "Done"


# A run is active until it ends in success or failure; an organization has one active run at most.
ACTIVE_SYNC_STATUSES = (SyncStatus.QUEUED, SyncStatus.RUNNING)
TERMINAL_SYNC_STATUSES = (SyncStatus.SUCCEEDED, SyncStatus.FAILED)


class SyncRun(models.Model):
    """One synchronization, carried out by two chains of short tasks, users and groups, each continuing from its
    own cursor (`cursor`, `groups_cursor`); with SYNC_CONCURRENT_CHAINS they run at the same time.

    Each chain's fence (`fence`, `groups_fence`) is bumped by every batch that claims it, so a duplicate or stale
    delivery of a task finds a different fence and does nothing; its lease (`lease_expires_at`,
    `groups_lease_expires_at`) tells a batch that died from one still running.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        Organization, db_column="tenant_id", on_delete=models.CASCADE, related_name="sync_runs"
    )
    service = models.ForeignKey(
        ProtectedService, null=True, blank=True, on_delete=models.SET_NULL, related_name="sync_runs"
    )
    kind = models.CharField(max_length=16, choices=SyncKind.choices)
    trigger = models.CharField(max_length=16, choices=SyncTrigger.choices)
    status = models.CharField(max_length=16, choices=SyncStatus.choices, default=SyncStatus.QUEUED)
    step = models.CharField(max_length=16, choices=SyncStep.choices, default=SyncStep.DOMAINS)
    users_total = models.PositiveIntegerField(null=True, blank=True)
    groups_total = models.PositiveIntegerField(null=True, blank=True)
    users_synced = models.PositiveIntegerField(default=0)
    groups_synced = models.PositiveIntegerField(default=0)
    memberships_synced = models.PositiveIntegerField(default=0)
    domains_synced = models.PositiveIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0)
    pages = models.PositiveIntegerField(default=0)
    throttled = models.PositiveIntegerField(default=0)
    added = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    removed = models.PositiveIntegerField(default=0)
    fallback_reason = models.CharField(max_length=200, blank=True, help_text="Why a delta round became a full round.")
    fence = models.PositiveIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    progressed_at = models.DateTimeField(
        null=True, blank=True, help_text="When a batch last claimed the run or saved progress (for the watchdog)."
    )
    cursor = models.TextField(blank=True, help_text="The nextLink the users chain continues from.")
    retries = models.PositiveSmallIntegerField(default=0, help_text="Consecutive throttled or failed batches.")
    listing_restarts = models.PositiveSmallIntegerField(
        default=0, help_text="Rounds begun again because Microsoft expired a page token."
    )
    round_started_at = models.DateTimeField(null=True, blank=True, help_text="When the users round began.")
    groups_chain = models.CharField(max_length=8, choices=ChainState.choices, default=ChainState.PENDING)
    groups_fence = models.PositiveIntegerField(default=0)
    groups_lease_expires_at = models.DateTimeField(null=True, blank=True)
    groups_cursor = models.TextField(blank=True, help_text="The nextLink the groups chain continues from.")
    groups_retries = models.PositiveSmallIntegerField(default=0)
    groups_round_started_at = models.DateTimeField(null=True, blank=True, help_text="When the groups round began.")
    pending_users_delta_link = models.TextField(blank=True)
    pending_groups_delta_link = models.TextField(blank=True)
    policy_enabled_at = models.DateTimeField(null=True, blank=True)
    follow_up_requested = models.BooleanField(
        default=False, help_text="The chosen users changed while this run was under way: another run follows it."
    )
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="What went wrong, in words an administrator understands.")
    error_detail = models.TextField(blank=True, help_text="The technical error, for support.")

    class Meta:
        app_label = "provisioning"
        ordering = ["-queued_at"]
        indexes = [models.Index(fields=["organization", "-queued_at"], name="syncrun_tenant_time")]
        constraints = [
            models.UniqueConstraint(
                fields=["organization"],
                condition=Q(status__in=ACTIVE_SYNC_STATUSES),
                name="syncrun_one_active_per_tenant",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} sync of {self.organization} ({self.status})"


class DirectoryDomain(models.Model):
    organization = models.ForeignKey(
        Organization, db_column="tenant_id", on_delete=models.CASCADE, related_name="directory_domains"
    )
    name = models.CharField(max_length=255)
    is_default = models.BooleanField(default=False)
    is_initial = models.BooleanField(default=False)

    class Meta:
        app_label = "provisioning"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="domain_unique_per_tenant")]

    def __str__(self) -> str:
        return self.name


class DirectoryUser(models.Model):
    organization = models.ForeignKey(
        Organization, db_column="tenant_id", on_delete=models.CASCADE, related_name="directory_users"
    )
    microsoft_id = models.UUIDField()
    user_principal_name = models.CharField(max_length=255)
    display_name = models.CharField(max_length=256, blank=True)
    mail = models.CharField(max_length=255, blank=True)
    account_enabled = models.BooleanField(default=True)
    is_licensed = models.BooleanField(default=False)
    normalized = models.BooleanField(default=False, help_text="A string from Microsoft had to be cleaned to be stored.")
    synced_at = models.DateTimeField()

    class Meta:
        app_label = "provisioning"
        ordering = ["user_principal_name"]
        constraints = [models.UniqueConstraint(fields=["organization", "microsoft_id"], name="directory_user_unique")]
        indexes = [models.Index(fields=["organization", "user_principal_name"], name="directory_user_upn")]

    def __str__(self) -> str:
        return self.user_principal_name


class GroupType(models.TextChoices):
    SECURITY = "security", "Security"
    MICROSOFT_365 = "microsoft-365", "Microsoft 365"
    DISTRIBUTION = "distribution", "Distribution"
    MAIL_ENABLED_SECURITY = "mail-enabled-security", "Mail-enabled security"


class DirectoryGroup(models.Model):
    organization = models.ForeignKey(
        Organization, db_column="tenant_id", on_delete=models.CASCADE, related_name="directory_groups"
    )
    microsoft_id = models.UUIDField()
    display_name = models.CharField(max_length=256)
    mail = models.CharField(max_length=255, blank=True)
    group_type = models.CharField(max_length=24, choices=GroupType.choices)
    normalized = models.BooleanField(default=False)
    synced_at = models.DateTimeField()

    class Meta:
        app_label = "provisioning"
        ordering = ["display_name"]
        constraints = [models.UniqueConstraint(fields=["organization", "microsoft_id"], name="directory_group_unique")]
        indexes = [models.Index(fields=["organization", "display_name"], name="directory_group_name")]

    def __str__(self) -> str:
        return self.display_name


class MemberType(models.TextChoices):
    """A member's type as Graph's @odata.type names it. Groups hold users, organizational contacts, devices,
    service principals and other groups: https://learn.microsoft.com/graph/api/group-list-members"""

    USER = "user", "User"
    GROUP = "group", "Group"
    CONTACT = "orgContact", "Organizational contact"
    DEVICE = "device", "Device"
    SERVICE_PRINCIPAL = "servicePrincipal", "Service principal"


MEMBER_TYPE_LENGTH = 64


class GroupMembership(models.Model):
    """A member of a group, by Microsoft object ids, so pages of members write set-wise. Only users have a row of
    their own (DirectoryUser) and groups (DirectoryGroup); a member of another type is its id and its type, kept
    even when the type is one Microsoft added after this release (its @odata.type name is stored as it came)."""

    organization = models.ForeignKey(
        Organization, db_column="tenant_id", on_delete=models.CASCADE, related_name="directory_memberships"
    )
    group_id = models.UUIDField()
    member_id = models.UUIDField()
    member_type = models.CharField(max_length=MEMBER_TYPE_LENGTH, choices=MemberType.choices)
    synced_at = models.DateTimeField()

    class Meta:
        app_label = "provisioning"
        constraints = [
            models.UniqueConstraint(fields=["organization", "group_id", "member_id"], name="group_membership_unique")
        ]
        indexes = [models.Index(fields=["organization", "member_id"], name="group_membership_member")]

    def __str__(self) -> str:
        return f"{self.member_id} in {self.group_id}"

    @property
    def member_type_label(self) -> str:
        if self.member_type in MemberType.values:
            return MemberType(self.member_type).label
        return f"{self.member_type} (a type this portal does not know yet)"
