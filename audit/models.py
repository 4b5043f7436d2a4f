from datetime import datetime
from typing import Any, NoReturn

from django.conf import settings
from django.db import models


class Action(models.TextChoices):
    LOGIN = "auth.login", "Logged in"
    LOGOUT = "auth.logout", "Logged out"
    LOGIN_FAILED = "auth.login_failed", "Login failed"
    MFA_ENABLED = "auth.mfa_enabled", "MFA enabled"
    MFA_DISABLED = "auth.mfa_disabled", "MFA disabled"
    STAFF_MFA_ENROLMENT_ISSUED = "support.staff_mfa_enrolment_issued", "Staff two-factor enrolment link issued"
    STAFF_MFA_ENROLMENT_REDEEMED = "auth.staff_mfa_enrolment_redeemed", "Staff two-factor enrolment link used"
    ORGANIZATION_CREATED = "organization.created", "Organization created"
    MEMBER_INVITED = "member.invited", "Member invited"
    INVITATION_REVOKED = "member.invitation_revoked", "Invitation revoked"
    MEMBER_JOINED = "member.joined", "Member joined"
    UNVERIFIED_EMAIL_RELEASED = "account.unverified_email_released", "Unverified address released to an invitee"
    MEMBER_ROLE_CHANGED = "member.role_changed", "Member role changed"
    MEMBER_REMOVED = "member.removed", "Member removed"
    POLICY_ENABLED = "policy.enabled", "Policy enabled"
    POLICY_DISABLED = "policy.disabled", "Policy disabled"
    GRANT_STARTED = "grant.started", "Access grant started"
    GRANT_CONSENTED = "grant.consented", "Permissions accepted at Microsoft"
    GRANT_REFUSED = "grant.refused", "Access grant refused"
    GRANT_CALLBACK_REJECTED = "grant.callback_rejected", "Grant callback rejected"
    GRANT_CANCELLED = "grant.cancelled", "Access grant cancelled"
    MICROSOFT_TENANT_BOUND = "organization.microsoft_tenant_bound", "Microsoft 365 tenant bound"
    SERVICE_ACCOUNT_CREATED = "service.account_created", "Service account created"
    SYNC_QUEUED = "sync.queued", "Synchronization queued"
    SYNC_SUCCEEDED = "sync.succeeded", "Synchronization succeeded"
    SYNC_FAILED = "sync.failed", "Synchronization failed"
    SELECTED_USER_ADDED = "sync.selected_user_added", "User added to the synchronized users"
    SELECTED_USER_REMOVED = "sync.selected_user_removed", "User removed from the synchronized users"
    APP_CREDENTIAL_REJECTED = "app_credential.rejected", "Portal's application credential rejected"
    ADMIN_ADDED = "admin.added", "Added in Django admin"
    ADMIN_CHANGED = "admin.changed", "Changed in Django admin"
    ADMIN_DELETED = "admin.deleted", "Deleted in Django admin"
    ADMIN_PASSWORD_SET = "admin.password_set", "Password set in Django admin"
    ADMIN_PASSWORD_DISABLED = "admin.password_disabled", "Password sign-in disabled in Django admin"
    SUPPORT_GRANT_CANCELLED = "support.grant_cancelled", "Support cancelled a stuck access grant"
    SUPPORT_PROVISIONING_RETRIED = "support.provisioning_retried", "Support retried a failed provisioning"
    SUPPORT_MFA_RESET = "support.mfa_reset", "Support reset a user's two-factor authentication"
    SUPPORT_SYNC_NOW = "support.sync_now", "Support started a synchronization"
    SUPPORT_CONNECTION_CHECKED = "support.connection_checked", "Support checked the connection"
    SUPPORT_TOKEN_MARKED_INVALID = "support.token_marked_invalid", "Support marked the access token invalid"
    SUPPORT_INVALID_TOKEN_EMAIL_RESENT = "support.invalid_token_email_resent", "Support resent the invalid-token email"
    SYNC_REFUSED = "sync.refused", "Synchronization refused"
    SYNC_MODE_EXTENDED = "sync.extended_to_all_users", "Extended to all users"
    CONNECTION_BROKEN = "connection.broken", "Access token invalid"
    COVERAGE_CHANGED = "coverage.changed", "Coverage changed"
    CONNECTION_RESTORED = "connection.restored", "Access restored"
    SERVICE_REMOVED = "service.removed", "Service removed"
    MICROSOFT_TENANT_UNBOUND = "organization.microsoft_tenant_unbound", "Microsoft 365 tenant unbound"
    ORGANIZATION_OFFBOARDED = "organization.offboarded", "Organization offboarded"
    APP_CREDENTIAL_EXPIRY_WARNED = "app_credential.expiry_warned", "Staff warned of the client secret's expiry"


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise TypeError("Audit events are append-only.")

    def delete(self) -> NoReturn:
        raise TypeError("Audit events are append-only.")

    def purge_older_than(self, cutoff: datetime) -> int:
        """The only way audit events leave the database: the retention purge (AUDIT_RETENTION_DAYS).

        A raw DELETE, so neither `delete` above nor any signal runs; returns how many were deleted.
        """
        return self.filter(occurred_at__lt=cutoff)._raw_delete(self.db)


class AuditEvent(models.Model):
    """Append-only record of who did what; written only through `audit.services.record_event`."""

    occurred_at = models.DateTimeField(auto_now_add=True, db_index=True)
    organization = models.ForeignKey(
        "tenants.Organization",
        db_column="tenant_id",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_events",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    actor_email = models.CharField(max_length=254, blank=True, help_text="Kept when the user is deleted.")
    action = models.CharField(max_length=64, choices=Action.choices, db_index=True)
    target = models.CharField(max_length=300, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    details = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["organization", "-occurred_at"], name="audit_tenant_time")]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.action} {self.target}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise TypeError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("Audit events are append-only.")
