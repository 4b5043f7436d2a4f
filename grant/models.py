"""The grant attempts: one pass through the two legs at Microsoft each."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from casportal.crypto import EncryptedTextField
from directory.models import SyncMode
from organizations.models import Organization, Policy, ProtectedService


class GrantStep(models.TextChoices):
    CONSENT = "consent", "Waiting for consent at Microsoft"
    IDENTITY = "identity", "Signing in the administrator"
    AWAITING_ACCESS = "awaiting-access", "Waiting for Microsoft to activate the permissions"
    CHOOSING_USERS = "choosing-users", "Choosing the users to synchronize"
    PROVISIONING = "provisioning", "Synchronizing"
    REFUSED = "refused", "Refused"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


IN_FLIGHT_STEPS = (GrantStep.CONSENT, GrantStep.IDENTITY, GrantStep.AWAITING_ACCESS)


class GrantAttempt(models.Model):
    """One pass through the two legs at Microsoft, bound to a session, a user, an organization and a service.

    Only a hash of each leg's `state` is stored; a callback finds its attempt by that hash and clears it,
    so each state works once.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        Organization, db_column="tenant_id", on_delete=models.CASCADE, related_name="grant_attempts"
    )
    service = models.ForeignKey(ProtectedService, on_delete=models.CASCADE, related_name="grant_attempts")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    session_key_hash = models.CharField(max_length=64)
    step = models.CharField(max_length=20, choices=GrantStep.choices, default=GrantStep.CONSENT)
    is_recreate = models.BooleanField(default=False)
    policy = models.ForeignKey(Policy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    sync_mode = models.CharField(max_length=16, choices=SyncMode.choices)
    state_hash = models.CharField(max_length=64, null=True, blank=True, unique=True)
    auth_flow = EncryptedTextField(blank=True, help_text="MSAL's auth-code flow (PKCE verifier, nonce), encrypted.")
    interactive = models.BooleanField(default=False, help_text="The identity leg was repeated with a sign-in page.")
    microsoft_tenant_id = models.UUIDField(null=True, blank=True)
    admin_upn = models.CharField(max_length=255, blank=True)
    admin_object_id = models.UUIDField(null=True, blank=True)
    admin_has_role_claims = models.BooleanField(default=False)
    access_deadline = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    refusal_code = models.CharField(max_length=64, blank=True, help_text="Why the attempt was refused, as audited.")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "provisioning"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["service"], condition=Q(step__in=IN_FLIGHT_STEPS), name="grant_one_in_flight_per_service"
            )
        ]

    def __str__(self) -> str:
        return f"Grant of {self.service} by {self.user} ({self.step})"
