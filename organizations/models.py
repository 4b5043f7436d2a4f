import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.models import User


class Region(models.TextChoices):
    """Data-centre regions; the daily synchronization runs in the region's night."""

    NORTH_AMERICA = "us", "United States"
    CANADA = "ca", "Canada"
    EUROPE = "eu", "Europe"
    UNITED_KINGDOM = "uk", "United Kingdom"
    JAPAN = "jp", "Japan"
    AUSTRALIA = "au", "Australia and New Zealand"
    INDIA = "in", "India"
    SINGAPORE = "sg", "Singapore"


class OrganizationQuerySet(models.QuerySet["Organization"]):
    def of_member(self, user: User) -> "OrganizationQuerySet":
        """The organizations the user is a member of."""
        return self.filter(memberships__user=user)


class Organization(models.Model):
    """An organization of the portal (one customer)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    microsoft_tenant_id = models.UUIDField(
        null=True,
        blank=True,
        unique=True,
        verbose_name="Microsoft 365 tenant id",
        help_text="Bound at the first access grant; one Microsoft 365 tenant belongs to one organization.",
    )
    region = models.CharField(max_length=8, choices=Region.choices, default=Region.NORTH_AMERICA)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OrganizationQuerySet.as_manager()

    class Meta:
        db_table = "tenants_tenant"
        ordering = ["name"]
        verbose_name = "organization"

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Administrator"
    READ_ONLY = "read-only", "Read-only"


class Membership(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        Organization, db_column="tenant_id", on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.READ_ONLY)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(
        null=True, blank=True, help_text="When the member last opened this organization; decides where login lands."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="membership_unique_user_per_tenant")
        ]
        ordering = ["organization__name", "user__email"]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.get_role_display()})"

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


class Invitation(models.Model):
    """A single-use invitation to join an organization; only a hash of its token is stored."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        Organization, db_column="tenant_id", on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.READ_ONLY)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "email"],
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_open_per_email",
            )
        ]

    def __str__(self) -> str:
        return f"Invitation of {self.email} to {self.organization}"


class ServiceKind(models.TextChoices):
    """The catalog of protected Microsoft 365 services; values appear in URLs."""

    EXCHANGE_ONLINE = "exchange-online", "Exchange Online"
    SHAREPOINT_ONLINE = "sharepoint-online", "SharePoint Online"
    ONEDRIVE = "onedrive", "OneDrive"
    TEAMS = "teams", "Microsoft Teams"


class ServiceStatus(models.TextChoices):
    NOT_GRANTED = "not-granted", "Not granted"
    PROVISIONING = "provisioning", "Provisioning"
    PROTECTED = "protected", "Protected"
    ACCESS_TOKEN_INVALID = "access-token-invalid", "Access token invalid"
    FAILED = "failed", "Failed"


class ProtectedService(models.Model):
    organization = models.ForeignKey(
        Organization, db_column="tenant_id", on_delete=models.CASCADE, related_name="services"
    )
    kind = models.CharField(max_length=32, choices=ServiceKind.choices)
    status = models.CharField(max_length=32, choices=ServiceStatus.choices, default=ServiceStatus.NOT_GRANTED)
    authorized_account = models.EmailField(
        blank=True, help_text="The Global Administrator who granted access at Microsoft."
    )
    granted_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True, verbose_name="last successful sync")
    last_error = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "kind"], name="service_unique_kind_per_tenant")]
        ordering = ["organization__name", "kind"]
        verbose_name = "protected service"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.organization}"

    @property
    def catalog_position(self) -> int:
        return list(ServiceKind.values).index(self.kind)

    @property
    def can_be_granted(self) -> bool:
        """Grant Access is open: never granted, the first synchronization failed, or the access token is invalid
        (Recreate Access Token)."""
        return self.status in (ServiceStatus.NOT_GRANTED, ServiceStatus.FAILED, ServiceStatus.ACCESS_TOKEN_INVALID)


class PolicyType(models.TextChoices):
    ATP = "atp", "Advanced Threat Protection"
    DLP = "dlp", "Data Loss Prevention"


MIN_PRIORITY = 1
MAX_PRIORITY = 99999
# Default policies hold the lowest priorities (highest numbers); policies added later stay above them.
LOWEST_CUSTOM_PRIORITY = 99997


class Policy(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        Organization, db_column="tenant_id", on_delete=models.CASCADE, related_name="policies"
    )
    service = models.ForeignKey(ProtectedService, on_delete=models.CASCADE, related_name="policies")
    name = models.CharField(max_length=200)
    policy_type = models.CharField(max_length=8, choices=PolicyType.choices)
    priority = models.PositiveIntegerField(help_text="1 is evaluated first; 99999 last.")
    is_default = models.BooleanField(default=False, editable=False)
    enabled = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["service__kind", "policy_type", "priority"]
        verbose_name_plural = "policies"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "service", "policy_type", "priority"], name="policy_unique_priority"
            ),
            models.CheckConstraint(
                condition=Q(priority__gte=MIN_PRIORITY, priority__lte=MAX_PRIORITY), name="policy_priority_range"
            ),
            models.CheckConstraint(
                condition=Q(is_default=True) | Q(priority__lte=LOWEST_CUSTOM_PRIORITY),
                name="policy_defaults_stay_lowest",
            ),
        ]

    def __str__(self) -> str:
        return self.name
