from collections.abc import Sequence
from typing import Any

from allauth.account.admin import EmailAddressAdmin as AllauthEmailAddressAdmin
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_GET, require_http_methods

from accounts import enrolment
from accounts.models import User
from audit.admin_log import AuditedAdminMixin
from audit.models import Action
from organizations import services as organization_services
from organizations.models import Membership, Organization
from support import mfa as support
from support.admin_base import ServiceRefusalsMixin
from support.staff import SupportActionRefused, SupportActionsMixin, support_action


def reset_mfa(user: User, request: HttpRequest, reason: str) -> str:
    support.reset_mfa(user=user, actor=request.user, reason=reason)
    if user.is_staff:
        return "two-factor authentication reset; as staff they set it up again only with an enrolment link."
    return "two-factor authentication reset; they set it up again at their next login."


def send_enrolment_link(user: User, request: HttpRequest, reason: str) -> str:
    try:
        link = enrolment.issue_enrolment(user=user, actor=request.user, reason=reason)
    except enrolment.EnrolmentRefused as refusal:
        raise SupportActionRefused(str(refusal)) from None
    enrolment.email_enrolment_link(user=user, link=link)
    return f"enrolment link emailed to {user.email}; it works once, within {enrolment.ENROLMENT_LINK_HOURS} hours."


class UsersOrganizationsMixin:
    """A staff change to a user, or to what belongs to one (an address, an authenticator), shows on the Activity
    of every organization the user belongs to."""

    def organizations_of(self, obj: Any) -> Sequence[Organization]:
        return list(Organization.objects.of_member(obj if isinstance(obj, User) else obj.user))


@admin.register(User)
class UserAdmin(ServiceRefusalsMixin, UsersOrganizationsMixin, AuditedAdminMixin, SupportActionsMixin, DjangoUserAdmin):
    """Deleting a user first removes their memberships through the organizations' service, so an organization never
    loses its last administrator this way either, and each organization's Activity shows the removal."""

    ordering = ["email"]
    list_display = ["email", "full_name", "is_staff", "is_superuser", "is_active", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active", "groups"]
    search_fields = ["email", "full_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("full_name",)}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    readonly_fields = ["last_login", "date_joined"]
    actions = [
        support_action("Reset two-factor authentication", reset_mfa),
        support_action(
            "Send a staff two-factor enrolment link", send_enrolment_link, permission="issue_staff_enrolment"
        ),
    ]

    def has_issue_staff_enrolment_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def get_urls(self) -> list[URLPattern]:
        # Opened by staff who have not passed two-factor authentication: StaffMFAMiddleware lets these through.
        site = self.admin_site
        return [
            path(
                "mfa-enrolment/",
                site.admin_view(self.staff_mfa_enrolment_view),
                name="accounts_user_mfa_enrolment",
            ),
            path(
                "mfa-enrolment/<str:token>/",
                site.admin_view(self.staff_mfa_enrolment_link_view),
                name="accounts_user_mfa_enrolment_link",
            ),
            *super().get_urls(),
        ]

    def _enrolment_page(self, request: HttpRequest, status: int = 200, **context: Any) -> TemplateResponse:
        return TemplateResponse(
            request,
            "admin/accounts/staff_mfa_enrolment.html",
            {
                **self.admin_site.each_context(request),
                "available_apps": [],  # nothing of admin before the second factor
                "title": "Two-factor authentication for staff",
                "has_totp": enrolment.has_totp(request.user),  # type: ignore[arg-type]  # admin_view: staff
                "hours": enrolment.ENROLMENT_LINK_HOURS,
                **context,
            },
            status=status,
        )

    @method_decorator(require_GET)
    def staff_mfa_enrolment_view(self, request: HttpRequest) -> TemplateResponse:
        """Where staff without an authenticator land: how to get an enrolment link."""
        return self._enrolment_page(request)

    @method_decorator(require_http_methods(["GET", "POST"]))
    def staff_mfa_enrolment_link_view(self, request: HttpRequest, token: str) -> HttpResponse:
        """The emailed link: a GET shows what it does, the POST redeems it and opens the TOTP setup."""
        user = request.user
        assert isinstance(user, User)  # admin_view: a signed-in staff member
        try:
            if request.method == "POST":
                enrolment.redeem_enrolment(request, token=token, user=user)
                return HttpResponseRedirect(reverse("mfa_activate_totp"))
            link = enrolment.check_enrolment(token=token, user=user)
        except enrolment.EnrolmentRefused as refusal:
            return self._enrolment_page(request, status=403, refusal=str(refusal))
        return self._enrolment_page(request, link=link)

    def save_model(self, request: HttpRequest, obj: User, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # Support staff vouch for the addresses they enter, as invitations and create_organization do; the address
        # entered becomes the primary one, the others stay as secondary addresses.
        EmailAddress.objects.filter(user=obj, primary=True).exclude(email__iexact=obj.email).update(primary=False)
        EmailAddress.objects.update_or_create(user=obj, email=obj.email, defaults={"verified": True, "primary": True})

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        """Django's password page, audited in its transaction: whether a password was set or password sign-in
        disabled, never the password or its hash."""
        with transaction.atomic():
            before = User.objects.filter(pk=unquote(id)).values_list("password", flat=True).first()
            response = super().user_change_password(request, id, form_url)
            user = User.objects.filter(pk=unquote(id)).first()
            if user is not None and user.password != before:
                action = Action.ADMIN_PASSWORD_SET if user.has_usable_password() else Action.ADMIN_PASSWORD_DISABLED
                self._record(request, action, user)
        return response

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        self._remove_memberships(request, [obj])
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._remove_memberships(request, list(queryset))
        super().delete_queryset(request, queryset)

    def _remove_memberships(self, request: HttpRequest, users: list[User]) -> None:
        for membership in Membership.objects.filter(user__in=users).select_related("organization", "user"):
            organization_services.remove_member(membership=membership, actor=request.user)


admin.site.unregister(EmailAddress)


@admin.register(EmailAddress)
class EmailAddressAdmin(UsersOrganizationsMixin, AuditedAdminMixin, AllauthEmailAddressAdmin):
    @admin.action(description="Mark selected email addresses as verified", permissions=["change"])
    def make_verified(self, request: HttpRequest, queryset: QuerySet[EmailAddress]) -> None:
        """allauth's action, audited: each address it verified, in the action's transaction."""
        unverified = list(queryset.filter(verified=False).values_list("pk", flat=True))
        super().make_verified(request, queryset)
        for address in EmailAddress.objects.filter(pk__in=unverified, verified=True).select_related("user"):
            self._record(request, Action.ADMIN_CHANGED, address, changes={"verified": ["False", "True"]})


admin.site.unregister(Authenticator)


@admin.register(Authenticator)
class AuthenticatorAdmin(UsersOrganizationsMixin, AuditedAdminMixin, admin.ModelAdmin):
    """Which authenticators a user has, never their secrets: `data` holds the TOTP secret."""

    list_display = ["user", "type", "created_at", "last_used_at"]
    list_filter = ["type", "created_at", "last_used_at"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    fields = ("user", "type", "created_at", "last_used_at")
    readonly_fields = fields
    secret_fields = ("data",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Authenticator | None = None) -> bool:
        return False
