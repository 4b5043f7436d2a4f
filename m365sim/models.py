"""Simulated Microsoft 365 tenants, their directories and the applications registered with them."""

import datetime as dt
import hashlib
import hmac
import uuid

from django.contrib.auth.hashers import check_password, make_password
from django.db import models
from django.utils import timezone

from m365sim import directory


class Tenant(models.Model):
    """A Microsoft Entra tenant, with the faults a test or a developer switched on for it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False, verbose_name="tenant id")
    slug = models.SlugField(unique=True, help_text="The seed command's --tenant name, e.g. contoso.")
    display_name = models.CharField(max_length=256)
    created_at = models.DateTimeField(default=timezone.now)
    # Every directory change takes the next number; delta tokens remember the number they saw.
    change_seq = models.BigIntegerField(default=0, editable=False)
    delta_tokens_valid_after = models.DateTimeField(null=True, blank=True)

    # Faults.
    throttle_next = models.PositiveIntegerField(default=0, help_text="The next N Graph requests are throttled.")
    throttle_fraction = models.FloatField(default=0.0, help_text="Besides, this fraction of Graph requests (0 to 1).")
    throttle_status = models.PositiveSmallIntegerField(
        default=429, choices=[(429, "429 Too Many Requests"), (503, "503 Service Unavailable")]
    )
    throttle_retry_after = models.PositiveIntegerField(default=10, help_text="Retry-After, in seconds.")
    latency_ms = models.PositiveIntegerField(
        default=0, help_text="The time every Graph request takes to its answer, in milliseconds (a $batch: once)."
    )
    token_failures_next = models.PositiveIntegerField(
        default=0, help_text="The token endpoint answers 500 to the next N calls."
    )
    consent_propagation_seconds = models.PositiveIntegerField(
        default=0,
        help_text="After consent, app-only tokens lack the new roles for this long (Microsoft: a minute or two).",
    )
    token_propagation_seconds = models.PositiveIntegerField(
        default=0,
        help_text="After consent, the token endpoint answers AADSTS7000229 (no service principal yet) for this long.",
    )
    graph_propagation_seconds = models.PositiveIntegerField(
        default=0,
        help_text="After consent, Graph answers 401 to app-only tokens for this long.",
    )
    page_tokens_valid_after = models.DateTimeField(
        null=True, blank=True, help_text="Page tokens ($skiptoken) issued before this have expired."
    )
    users_delta_page_cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="Users per users-delta page; empty: the simulator's setting."
    )
    members_delta_page_cap = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="members@delta entries per groups-delta page; empty: the simulator's setting.",
    )
    delta_replay_next = models.PositiveIntegerField(
        default=0, help_text="The next N delta pages repeat the previous page's changes."
    )
    delta_reset_next = models.PositiveIntegerField(
        default=0, help_text="The next N delta requests answer 410 Gone (a synchronization reset)."
    )
    decline_as_access_denied = models.BooleanField(
        default=False,
        help_text="Cancel on admin consent answers error=access_denied, as the authorize endpoint does, "
        "instead of the documented consent_required.",
    )
    batch_throttle_next = models.PositiveIntegerField(
        default=0, help_text="The next N requests inside a $batch answer 429 (the batch itself answers 200)."
    )
    access_policy_delay_seconds = models.PositiveIntegerField(
        default=0,
        help_text="An application access policy applied or lifted takes effect after this long "
        "(Microsoft: it can take over an hour).",
    )
    mailbox_provisioning_seconds = models.PositiveIntegerField(
        default=0, help_text="After a licence is assigned, the user's mailbox appears after this long."
    )

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.display_name


class Domain(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="domains")
    name = models.CharField(max_length=255, unique=True)
    is_default = models.BooleanField(default=False)
    is_initial = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DirectoryObject(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE)
    display_name = models.CharField(max_length=256)
    created_at = models.DateTimeField(default=timezone.now)
    version = models.BigIntegerField(default=0, editable=False, help_text="Tenant.change_seq at the last change.")
    deleted_at = models.DateTimeField(null=True, blank=True)
    # A soft-deleted object is restorable (delta reports reason "changed"); a hard-deleted one is gone ("deleted").
    hard_deleted = models.BooleanField(default=False)
    # Graph property name -> Tenant.change_seq when it last changed, for delta's Prefer: return=minimal.
    property_versions = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        abstract = True
        ordering = ["id"]

    def __str__(self) -> str:
        return self.display_name


class MailboxState(models.TextChoices):
    AUTO = "auto", "As the licence says"
    PROVISIONED = "provisioned", "Exchange Online mailbox"
    PENDING = "pending", "Licensed, not yet provisioned"
    NONE = "none", "No mailbox"
    ON_PREMISES = "on_premises", "Hosted on-premises"
    SOFT_DELETED = "soft_deleted", "Soft-deleted"


class DriveState(models.TextChoices):
    AUTO = "auto", "As the licence says"
    PROVISIONED = "provisioned", "Provisioned"
    NOT_PROVISIONED = "not_provisioned", "Not provisioned yet"


class User(DirectoryObject):
    user_principal_name = models.CharField(max_length=255, unique=True)
    mail = models.CharField(max_length=255, blank=True)
    given_name = models.CharField(max_length=64, blank=True)
    surname = models.CharField(max_length=64, blank=True)
    job_title = models.CharField(max_length=128, blank=True)
    account_enabled = models.BooleanField(default=True)
    assigned_licenses = models.JSONField(default=list, blank=True, help_text="SKU ids.")
    password = models.CharField(max_length=128, blank=True, help_text="Empty: this user cannot sign in.")
    # What Exchange Online and OneDrive hold for the user: fields on the row, so a 100,000-user tenant costs nothing.
    mailbox = models.CharField(
        max_length=16,
        choices=MailboxState.choices,
        default=MailboxState.AUTO,
        help_text="Auto: a licensed user has a mailbox, an unlicensed one none.",
    )
    mailbox_ready_at = models.DateTimeField(
        null=True, blank=True, help_text="A mailbox not yet provisioned appears then (empty: not before a change)."
    )
    drive = models.CharField(
        max_length=16,
        choices=DriveState.choices,
        default=DriveState.AUTO,
        help_text="Auto: a licensed user's OneDrive is provisioned, an unlicensed user has none.",
    )

    class Meta(DirectoryObject.Meta):
        indexes = [models.Index(fields=["tenant", "version"]), models.Index(fields=["tenant", "display_name"])]

    def set_password(self, raw_password: str) -> None:
        self.password = make_password(raw_password)

    def check_password(self, raw_password: str) -> bool:
        return bool(self.password) and check_password(raw_password, self.password)

    @property
    def role_ids(self) -> set[str]:
        return set(self.role_assignments.values_list("role_template_id", flat=True))


class RoleAssignment(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="role_assignments")
    role_template_id = models.CharField(max_length=36, choices=list(directory.ROLE_NAMES.items()))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "role_template_id"], name="m365sim_unique_role")]

    def __str__(self) -> str:
        return directory.ROLE_NAMES.get(self.role_template_id, self.role_template_id)


class Group(DirectoryObject):
    description = models.CharField(max_length=1024, blank=True)
    mail = models.CharField(max_length=255, blank=True)
    mail_nickname = models.CharField(max_length=64, blank=True)
    mail_enabled = models.BooleanField(default=False)
    security_enabled = models.BooleanField(default=True)
    group_types = models.JSONField(default=list, blank=True, help_text='["Unified"] for a Microsoft 365 group.')
    is_team = models.BooleanField(default=False, help_text='A Microsoft 365 group provisioned as a team ("Team").')

    class Meta(DirectoryObject.Meta):
        indexes = [models.Index(fields=["tenant", "version"]), models.Index(fields=["tenant", "display_name"])]


class MemberObject(DirectoryObject):
    """A directory object a group holds besides users and groups: an organizational contact, a device or a
    service principal (another application's, not the consent records of `ServicePrincipal`).

    "A group can have users, organizational contacts, devices, service principals and other groups as members":
    List group members, https://learn.microsoft.com/graph/api/group-list-members
    """

    class Kind(models.TextChoices):
        CONTACT = "orgContact", "Organizational contact"
        DEVICE = "device", "Device"
        SERVICE_PRINCIPAL = "servicePrincipal", "Service principal"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    mail = models.CharField(max_length=255, blank=True, help_text="Contacts only.")
    device_id = models.UUIDField(null=True, blank=True, help_text="Devices only: deviceId, not the object id.")
    app_id = models.UUIDField(null=True, blank=True, help_text="Service principals only: the application's id.")

    class Meta(DirectoryObject.Meta):
        indexes = [models.Index(fields=["tenant", "kind"])]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.get_kind_display()})"


class Membership(models.Model):
    """A user, a group or another directory object in a group. A removed membership is kept so that a delta
    round can report it."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="memberships")
    member_user = models.ForeignKey(User, on_delete=models.CASCADE, null=True, blank=True, related_name="memberships")
    member_group = models.ForeignKey(
        Group, on_delete=models.CASCADE, null=True, blank=True, related_name="parent_memberships"
    )
    member_object = models.ForeignKey(
        MemberObject, on_delete=models.CASCADE, null=True, blank=True, related_name="memberships"
    )
    version = models.BigIntegerField(default=0, editable=False)
    removed = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(member_user__isnull=False, member_group__isnull=True, member_object__isnull=True)
                    | models.Q(member_user__isnull=True, member_group__isnull=False, member_object__isnull=True)
                    | models.Q(member_user__isnull=True, member_group__isnull=True, member_object__isnull=False)
                ),
                name="m365sim_membership_one_member",
            ),
            models.UniqueConstraint(fields=["group", "member_user"], name="m365sim_unique_user_member"),
            models.UniqueConstraint(fields=["group", "member_group"], name="m365sim_unique_group_member"),
            models.UniqueConstraint(fields=["group", "member_object"], name="m365sim_unique_object_member"),
        ]
        indexes = [models.Index(fields=["group", "version"])]

    def __str__(self) -> str:
        return f"{self.member} in {self.group}"

    @property
    def member(self) -> "User | Group | MemberObject | None":
        return self.member_user or self.member_group or self.member_object


class Site(models.Model):
    """A SharePoint site collection's root site. Its id is Graph's composite "{hostname},{site id},{web id}"."""

    id = models.CharField(primary_key=True, max_length=200, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="sites")
    name = models.CharField(max_length=128)
    display_name = models.CharField(max_length=256)
    web_url = models.CharField(max_length=512)
    created_at = models.DateTimeField(default=timezone.now)
    group = models.ForeignKey(
        "Group", on_delete=models.CASCADE, null=True, blank=True, related_name="sites", help_text="A team's site."
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.display_name


class AccessPolicy(models.Model):
    """An Exchange Online application access policy (New-ApplicationAccessPolicy): it restricts an application to
    the mailboxes of a mail-enabled security group, or denies it those mailboxes. Applying and lifting take effect
    after the tenant's delay."""

    class Right(models.TextChoices):
        RESTRICT = "RestrictAccess", "RestrictAccess"
        DENY = "DenyAccess", "DenyAccess"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="access_policies")
    app_id = models.UUIDField(verbose_name="application (client) id")
    group = models.ForeignKey("Group", on_delete=models.CASCADE, related_name="access_policies")
    access_right = models.CharField(max_length=16, choices=Right.choices)
    description = models.CharField(max_length=256, blank=True)
    effective_at = models.DateTimeField(help_text="The policy applies from this time.")
    lifted_at = models.DateTimeField(null=True, blank=True, help_text="Removed: the policy stops applying then.")

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "access policies"

    def __str__(self) -> str:
        return f"{self.access_right} {self.group} for {self.app_id}"

    def active(self, now: dt.datetime) -> bool:
        return self.effective_at <= now and (self.lifted_at is None or now < self.lifted_at)


class Application(models.Model):
    """An app registration: one per application, valid in every tenant that consents to it."""

    client_id = models.UUIDField(primary_key=True, default=uuid.uuid4, verbose_name="application (client) id")
    display_name = models.CharField(max_length=256)
    redirect_uris = models.JSONField(default=list, blank=True)
    application_permissions = models.JSONField(default=list, blank=True, help_text="Microsoft Graph app roles.")
    delegated_permissions = models.JSONField(default=list, blank=True)
    # The manifest's groupMembershipClaims includes "DirectoryRole": tokens carry `wids`.
    emit_wids = models.BooleanField(default=True, verbose_name="tokens carry wids")

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name


class ClientSecret(models.Model):
    """A client secret; only its hash and first characters are kept, as Entra shows only a hint."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="secrets")
    key_id = models.UUIDField(default=uuid.uuid4, editable=False)
    hint = models.CharField(max_length=3, editable=False)
    secret_hash = models.CharField(max_length=128, editable=False)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["expires_at"]

    def __str__(self) -> str:
        return f"{self.hint}… (expires {self.expires_at:%Y-%m-%d})"

    # A plain digest suffices for a generated, high-entropy secret and keeps every token request fast.
    def set_secret(self, raw_secret: str) -> None:
        self.hint = raw_secret[:3]
        self.secret_hash = hashlib.sha256(raw_secret.encode()).hexdigest()

    def matches(self, raw_secret: str) -> bool:
        return hmac.compare_digest(self.secret_hash, hashlib.sha256(raw_secret.encode()).hexdigest())

    @property
    def expired(self) -> bool:
        return self.expires_at <= timezone.now()


class ServicePrincipal(models.Model):
    """An application's presence in a tenant (an enterprise application), with the consent given to it there."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="service_principals")
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="service_principals")
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False, verbose_name="object id")
    account_enabled = models.BooleanField(default=True, help_text="Off: 'Enabled for users to sign in?' is No.")
    granted_roles = models.JSONField(default=list, blank=True, help_text="Application permissions consented to.")
    admin_consented_at = models.DateTimeField(null=True, blank=True)
    consented_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    consented_users = models.ManyToManyField(
        User, blank=True, related_name="+", help_text="User consents to delegated permissions."
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "application"], name="m365sim_unique_sp")]

    def __str__(self) -> str:
        return f"{self.application} in {self.tenant}"

    @property
    def has_admin_consent(self) -> bool:
        return self.admin_consented_at is not None


class AuthorizationCode(models.Model):
    code = models.CharField(primary_key=True, max_length=64)
    application = models.ForeignKey(Application, on_delete=models.CASCADE)
    user = models.ForeignKey(User, on_delete=models.CASCADE)
    redirect_uri = models.CharField(max_length=1024)
    scopes = models.JSONField(default=list)
    nonce = models.CharField(max_length=256, blank=True)
    code_challenge = models.CharField(max_length=128)
    expires_at = models.DateTimeField()
    redeemed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"code for {self.user_id}"


class RefreshToken(models.Model):
    token = models.CharField(primary_key=True, max_length=64)
    application = models.ForeignKey(Application, on_delete=models.CASCADE)
    user = models.ForeignKey(User, on_delete=models.CASCADE)
    scopes = models.JSONField(default=list)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"refresh token for {self.user_id}"


class RequestCount(models.Model):
    """Requests served, per tenant and endpoint, for tests and the control API."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="request_counts")
    endpoint = models.CharField(max_length=128)
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "endpoint"], name="m365sim_unique_request_count")]
        ordering = ["tenant", "endpoint"]

    def __str__(self) -> str:
        return f"{self.endpoint}: {self.count}"
