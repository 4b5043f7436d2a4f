"""The connection to each customer's Microsoft 365 tenant (service accounts, incidents) and the health of the
portal's own credential."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from organizations.models import Organization, Policy, ProtectedService


class ServiceAccount(models.Model):
    """The Authorized Account of a protected service: the Global Administrator who granted access."""

    organization = models.ForeignKey(
        Organization, db_column="tenant_id", on_delete=models.CASCADE, related_name="service_accounts"
    )
    service = models.OneToOneField(ProtectedService, on_delete=models.CASCADE, related_name="service_account")
    microsoft_tenant_id = models.UUIDField()
    authorized_account = models.CharField(max_length=255)
    authorized_object_id = models.UUIDField()
    granted_at = models.DateTimeField()
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    auto_enable_policy = models.ForeignKey(Policy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        app_label = "provisioning"
        ordering = ["organization__name", "service__kind"]

    def __str__(self) -> str:
        return f"{self.authorized_account} for {self.service}"


class ConnectionIncident(models.Model):
    """A period during which the customer's consent is broken; its admins are emailed once per incident."""

    organization = models.ForeignKey(
        Organization, db_column="tenant_id", on_delete=models.CASCADE, related_name="connection_incidents"
    )
    opened_at = models.DateTimeField(auto_now_add=True)
    reason = models.TextField()
    error_code = models.CharField(max_length=64, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "provisioning"
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization"], condition=Q(closed_at__isnull=True), name="incident_one_open_per_tenant"
            )
        ]

    def __str__(self) -> str:
        return f"{self.organization}: {self.reason[:60]}"


class CredentialStatus(models.TextChoices):
    OK = "ok", "Accepted"
    REJECTED = "rejected", "Rejected by Microsoft"


class AppCredentialHealth(models.Model):
    """Whether Microsoft accepts the portal's own application credential; one row per client id."""

    client_id = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=16, choices=CredentialStatus.choices, default=CredentialStatus.OK)
    error_code = models.CharField(max_length=32, blank=True)
    error_description = models.TextField(blank=True)
    rejected_since = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    staff_alerted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "provisioning"
        verbose_name = "application credential health"
        verbose_name_plural = "application credential health"

    def __str__(self) -> str:
        return f"{self.client_id}: {self.get_status_display()}"
