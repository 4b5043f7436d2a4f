from django.contrib import admin
from django.http import HttpRequest

from tenants import services
from tenants.models import Invitation, Membership, Policy, ProtectedService, Tenant


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at", "last_used_at"]
    readonly_fields = ["created_at", "last_used_at"]


class ProtectedServiceInline(admin.TabularInline):
    model = ProtectedService
    extra = 0
    can_delete = False
    fields = ("kind", "status", "authorized_account", "granted_at", "last_synced_at", "last_error")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "microsoft_tenant_id", "region", "created_at"]
    list_filter = ["region", "created_at"]
    search_fields = ["name", "slug", "microsoft_tenant_id"]
    readonly_fields = ["public_id", "created_at"]
    inlines = [MembershipInline, ProtectedServiceInline]

    def get_prepopulated_fields(self, request, obj=None):
        return {} if obj else {"slug": ("name",)}

    def save_model(self, request, obj: Tenant, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            services.set_up_new_tenant(tenant=obj, actor=request.user)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "tenant", "role", "created_at", "last_used_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "tenant__name", "tenant__slug"]
    list_select_related = ["user", "tenant"]
    autocomplete_fields = ["user", "tenant"]
    readonly_fields = ["public_id", "created_at", "last_used_at"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "tenant", "role", "invited_by", "created_at", "expires_at", "accepted_at", "revoked_at"]
    list_filter = ["role", "created_at"]
    search_fields = ["email", "tenant__name", "tenant__slug"]
    list_select_related = ["tenant", "invited_by"]
    exclude = ["token_hash"]
    readonly_fields = ["public_id", "invited_by", "accepted_by", "created_at", "accepted_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(ProtectedService)
class ProtectedServiceAdmin(admin.ModelAdmin):
    list_display = ["tenant", "kind", "status", "authorized_account", "granted_at", "last_synced_at"]
    list_filter = ["kind", "status"]
    search_fields = ["tenant__name", "tenant__slug", "authorized_account"]
    list_select_related = ["tenant"]
    readonly_fields = ["tenant", "kind", "authorized_account", "granted_at", "last_synced_at", "last_error"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant", "service", "policy_type", "priority", "enabled", "is_default"]
    list_filter = ["policy_type", "enabled", "is_default", "service__kind"]
    search_fields = ["name", "tenant__name", "tenant__slug"]
    list_select_related = ["tenant", "service", "service__tenant"]
    readonly_fields = ["public_id", "tenant", "service", "policy_type", "is_default", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
