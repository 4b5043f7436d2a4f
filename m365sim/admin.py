"""The simulator's state in the portal's Django admin (development only): directory, apps, consent and faults."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from m365sim import services
from m365sim.models import (
    AccessPolicy,
    Application,
    ClientSecret,
    Domain,
    DriveState,
    Group,
    MailboxState,
    MemberObject,
    Membership,
    RequestCount,
    RoleAssignment,
    ServicePrincipal,
    Site,
    Tenant,
    User,
)


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = [
        "display_name",
        "slug",
        "id",
        "throttle_next",
        "throttle_fraction",
        "latency_ms",
        "token_failures_next",
    ]
    search_fields = ["display_name", "slug", "id"]
    inlines = [DomainInline]
    readonly_fields = ["id", "change_seq"]
    fieldsets = [
        (None, {"fields": ["id", "slug", "display_name", "change_seq", "delta_tokens_valid_after"]}),
        (
            "Faults",
            {
                "fields": [
                    ("throttle_next", "throttle_fraction"),
                    ("throttle_status", "throttle_retry_after"),
                    "latency_ms",
                    "token_failures_next",
                    ("token_propagation_seconds", "consent_propagation_seconds", "graph_propagation_seconds"),
                    ("users_delta_page_cap", "members_delta_page_cap"),
                    ("delta_replay_next", "delta_reset_next"),
                    "page_tokens_valid_after",
                    "decline_as_access_denied",
                    "batch_throttle_next",
                ]
            },
        ),
        ("Exchange Online", {"fields": ["mailbox_provisioning_seconds", "access_policy_delay_seconds"]}),
    ]
    actions = ["reset_faults", "expire_delta_tokens", "expire_page_tokens"]

    @admin.action(description="Clear all faults")
    def reset_faults(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        for tenant in queryset:
            services.reset_faults(tenant)
        messages.success(request, "Faults cleared.")

    @admin.action(description="Expire delta tokens (the next delta sync must start over)")
    def expire_delta_tokens(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        for tenant in queryset:
            services.expire_delta_tokens(tenant)
        messages.success(request, "Delta tokens expired.")

    @admin.action(description="Expire page tokens now (every nextLink answers Directory_ExpiredPageToken)")
    def expire_page_tokens(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        for tenant in queryset:
            services.expire_page_tokens(tenant)
        messages.success(request, "Page tokens expired.")


class RoleAssignmentInline(admin.TabularInline):
    model = RoleAssignment
    extra = 0


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = [
        "user_principal_name",
        "display_name",
        "tenant",
        "account_enabled",
        "mailbox",
        "drive",
        "deleted_at",
    ]
    list_filter = ["tenant", "account_enabled", "mailbox", "drive"]
    actions = ["provision_mailbox", "provision_drive"]
    search_fields = ["user_principal_name", "display_name", "id"]
    readonly_fields = ["id", "version", "can_sign_in"]
    exclude = ["password"]
    inlines = [RoleAssignmentInline]
    list_select_related = ["tenant"]
    show_full_result_count = False

    @admin.display(boolean=True, description="can sign in")
    def can_sign_in(self, user: User) -> bool:
        # Never the hash: a password hash on screen is an offline guessing target.
        return bool(user.password)

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        return not lookup.startswith("password") and super().lookup_allowed(lookup, value, request)

    @admin.action(description="Provision the mailbox now")
    def provision_mailbox(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:
            services.set_mailbox(user, MailboxState.PROVISIONED)
        messages.success(request, "Mailboxes provisioned.")

    @admin.action(description="Provision the OneDrive now")
    def provision_drive(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:
            services.set_drive(user, DriveState.PROVISIONED)
        messages.success(request, "OneDrives provisioned.")


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ["display_name", "tenant", "mail_enabled", "security_enabled", "is_team", "deleted_at"]
    list_filter = ["tenant", "mail_enabled", "security_enabled", "is_team"]
    search_fields = ["display_name", "mail", "id"]
    readonly_fields = ["id", "version"]
    list_select_related = ["tenant"]
    show_full_result_count = False


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["display_name", "web_url", "tenant", "group"]
    list_filter = ["tenant"]
    search_fields = ["display_name", "web_url", "id"]
    raw_id_fields = ["group"]
    list_select_related = ["tenant", "group"]


@admin.register(AccessPolicy)
class AccessPolicyAdmin(admin.ModelAdmin):
    """Applied through the control API, which checks the group; here they are seen and lifted."""

    list_display = ["access_right", "group", "app_id", "tenant", "effective_at", "lifted_at"]
    list_filter = ["tenant", "access_right"]
    readonly_fields = ["tenant", "app_id", "group", "access_right", "description", "effective_at", "lifted_at"]
    actions = ["lift"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Lift (after the tenant's access policy delay)")
    def lift(self, request: HttpRequest, queryset: QuerySet[AccessPolicy]) -> None:
        for policy in queryset.select_related("tenant"):
            services.lift_access_policy(policy)
        messages.success(request, "Access policies lifted.")


@admin.register(MemberObject)
class MemberObjectAdmin(admin.ModelAdmin):
    list_display = ["display_name", "kind", "tenant", "deleted_at"]
    list_filter = ["tenant", "kind"]
    search_fields = ["display_name", "mail", "id"]
    readonly_fields = ["id", "version"]
    list_select_related = ["tenant"]
    show_full_result_count = False


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["group", "member_user", "member_group", "member_object", "removed"]
    list_filter = ["removed"]
    raw_id_fields = ["group", "member_user", "member_group", "member_object"]
    search_fields = ["group__display_name", "member_user__user_principal_name"]
    show_full_result_count = False


class ClientSecretInline(admin.TabularInline):
    model = ClientSecret
    extra = 0
    fields = ["hint", "key_id", "expires_at"]
    readonly_fields = ["hint", "key_id"]


@admin.register(Application)
class ApplicationAdmin(admin.ModelAdmin):
    list_display = ["display_name", "client_id", "emit_wids"]
    inlines = [ClientSecretInline]
    actions = ["expire_secrets"]

    @admin.action(description="Expire the client secrets (token requests fail with AADSTS7000222)")
    def expire_secrets(self, request: HttpRequest, queryset: QuerySet[Application]) -> None:
        for application in queryset:
            services.expire_secrets(application)
        messages.success(request, "Secrets expired.")


@admin.register(ServicePrincipal)
class ServicePrincipalAdmin(admin.ModelAdmin):
    list_display = ["application", "tenant", "account_enabled", "admin_consented_at", "consented_by"]
    list_filter = ["tenant", "account_enabled"]
    raw_id_fields = ["consented_by", "consented_users"]
    actions = ["revoke_consent", "disable", "enable"]

    @admin.action(description="Revoke consent (Graph then answers 403)")
    def revoke_consent(self, request: HttpRequest, queryset: QuerySet[ServicePrincipal]) -> None:
        for sp in queryset:
            services.revoke_consent(sp)
        messages.success(request, "Consent revoked.")

    @admin.action(description="Disable (token requests fail with AADSTS7000112)")
    def disable(self, request: HttpRequest, queryset: QuerySet[ServicePrincipal]) -> None:
        for sp in queryset:
            services.set_service_principal_enabled(sp, False)

    @admin.action(description="Enable")
    def enable(self, request: HttpRequest, queryset: QuerySet[ServicePrincipal]) -> None:
        for sp in queryset:
            services.set_service_principal_enabled(sp, True)


@admin.register(RequestCount)
class RequestCountAdmin(admin.ModelAdmin):
    list_display = ["tenant", "endpoint", "count"]
    list_filter = ["tenant"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
