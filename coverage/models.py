"""What each protected service covers, object by object: a mailbox, a OneDrive, a site or a team is covered when
casportal's app-only access reached it through Microsoft Graph at its last check."""

from django.db import models

from organizations.models import Organization, ProtectedService, ServiceKind


class CoverageState(models.TextChoices):
    COVERED = "covered", "Covered"
    NO_MAILBOX = "no-mailbox", "No Exchange Online mailbox"
    POLICY_REFUSED = "policy-refused", "Refused by an application access policy"
    NO_DRIVE = "no-drive", "No OneDrive"
    NOT_READABLE = "not-readable", "Not readable by casportal"
    UNCHECKED = "unchecked", "Could not be checked"


# The states each service's objects can be in, in the order its Coverage page lists them.
SERVICE_STATES = {
    ServiceKind.EXCHANGE_ONLINE: (
        CoverageState.COVERED,
        CoverageState.NO_MAILBOX,
        CoverageState.POLICY_REFUSED,
        CoverageState.UNCHECKED,
    ),
    ServiceKind.ONEDRIVE: (CoverageState.COVERED, CoverageState.NO_DRIVE, CoverageState.UNCHECKED),
    ServiceKind.SHAREPOINT_ONLINE: (CoverageState.COVERED, CoverageState.NOT_READABLE, CoverageState.UNCHECKED),
    ServiceKind.TEAMS: (CoverageState.COVERED, CoverageState.NOT_READABLE, CoverageState.UNCHECKED),
}
# Objects per service: what the Coverage page and Service Status count.
SERVICE_OBJECTS = {
    ServiceKind.EXCHANGE_ONLINE: ("mailbox", "mailboxes"),
    ServiceKind.ONEDRIVE: ("OneDrive", "OneDrives"),
    ServiceKind.SHAREPOINT_ONLINE: ("site", "sites"),
    ServiceKind.TEAMS: ("team", "teams"),
}
USER_SERVICES = (ServiceKind.EXCHANGE_ONLINE, ServiceKind.ONEDRIVE)


class ObjectCoverage(models.Model):
    """One object of a service as its last check found it. Users' objects are keyed by the user's object id."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    service = models.ForeignKey(ProtectedService, on_delete=models.CASCADE, related_name="object_coverage")
    microsoft_id = models.CharField(max_length=200, help_text="The user's, site's or team's id in Microsoft 365.")
    user_id = models.UUIDField(null=True, blank=True, help_text="The user's object id, for a mailbox or a OneDrive.")
    # Which of the 24 slots of the rotation checks this covered object again (a stable hash of its id).
    rotation_slot = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=400, help_text="User principal name, site address or team name.")
    state = models.CharField(max_length=20, choices=CoverageState.choices)
    detail = models.CharField(max_length=400, blank=True, help_text="Microsoft's answer, when not covered.")
    checked_at = models.DateTimeField()
    state_since = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["service", "microsoft_id"], name="object_coverage_unique"),
        ]
        indexes = [
            models.Index(fields=["organization", "service", "state"], name="object_coverage_state"),
            models.Index(fields=["service", "user_id"], name="object_coverage_user"),
            models.Index(fields=["service", "rotation_slot"], name="object_coverage_rotation"),
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.get_state_display()}"


class ServiceCoverage(models.Model):
    """A service's coverage at its last verification: covered objects of those in scope."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    service = models.OneToOneField(ProtectedService, on_delete=models.CASCADE, related_name="coverage")
    in_scope = models.PositiveIntegerField(default=0)
    covered = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, help_text="Objects in scope by state.")
    verified_at = models.DateTimeField(null=True, blank=True)
    # The directory as of the last verification: users synchronized after it are checked at the next one.
    directory_as_of = models.DateTimeField(null=True, blank=True)
    dropped_since = models.DateTimeField(
        null=True, blank=True, help_text="Coverage fell and has not recovered since: one incident, one email."
    )
    covered_before_drop = models.PositiveIntegerField(null=True, blank=True)
    drop_notified = models.BooleanField(default=False)
    # The verification under way, as short fenced tasks: since when, its fence, and until when its task holds it.
    verification_started_at = models.DateTimeField(null=True, blank=True)
    verification_is_probe = models.BooleanField(default=False)
    verification_fence = models.PositiveIntegerField(default=0)
    # The slot of the rotation the next verification checks again; each completed verification moves it on, so
    # that the hourly verifications check every covered object again within 24 hours.
    rotation_slot = models.PositiveSmallIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.service}: {self.covered} of {self.in_scope}"

    @property
    def dropped(self) -> bool:
        return self.dropped_since is not None
