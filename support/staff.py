"""Support staff in Django admin: the two groups, the operators' support actions, the credential banner.

The groups are created by a data migration (accounts 0002); their permissions are kept in step after every
`migrate`, so a model added later is visible to support without another migration.
"""

from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

from django import forms
from django.apps import AppConfig
from django.apps import apps as global_apps
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import DEFAULT_DB_ALIAS, models, router, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone

from connection.credential import credential_rejected
from connection.secret_expiry import secret_expiry_date, warning_threshold

READ_ONLY_GROUP = "Support (read-only)"
OPERATOR_GROUP = "Support (operator)"
STAFF_GROUPS = (READ_ONLY_GROUP, OPERATOR_GROUP)
SUPPORT_ACTIONS_CODENAME = "run_support_actions"
SUPPORT_ACTIONS_PERMISSION = f"provisioning.{SUPPORT_ACTIONS_CODENAME}"
# Both groups view every model of these apps; operators also change what is listed here.
VISIBLE_APPS = frozenset(
    {"accounts", "tenants", "provisioning", "coverage", "audit", "mfa", "account", "auth", "django_celery_beat"}
)
OPERATOR_CODENAMES = {"provisioning": ("change_syncsettings", SUPPORT_ACTIONS_CODENAME)}


def sync_group_permissions(
    sender: AppConfig, apps: Any = global_apps, using: str = DEFAULT_DB_ALIAS, **kwargs: Any
) -> None:
    """post_migrate: give both staff groups the view permissions of the app just migrated (operators more)."""
    if sender.label not in VISIBLE_APPS or not router.allow_migrate(using, "auth"):
        return  # the simulator's database has no staff groups
    try:
        Group = apps.get_model("auth", "Group")
        Permission = apps.get_model("auth", "Permission")
        ContentType = apps.get_model("contenttypes", "ContentType")
    except LookupError:
        return
    # Also after a flush (test databases): the groups come back with their permissions.
    groups = {name: Group.objects.using(using).get_or_create(name=name)[0] for name in STAFF_GROUPS}
    if sender.label == "provisioning":
        # A custom permission no model declares: it guards the support actions on every model.
        content_type = ContentType.objects.db_manager(using).get_or_create(
            app_label="provisioning", model="syncsettings"
        )[0]
        Permission.objects.using(using).get_or_create(
            content_type=content_type,
            codename=SUPPORT_ACTIONS_CODENAME,
            defaults={"name": "Can run support actions"},
        )
    app_permissions = Permission.objects.using(using).filter(content_type__app_label=sender.label)
    views = list(app_permissions.filter(codename__startswith="view_"))
    groups[READ_ONLY_GROUP].permissions.add(*views)
    operator_extra = list(app_permissions.filter(codename__in=OPERATOR_CODENAMES.get(sender.label, ())))
    groups[OPERATOR_GROUP].permissions.add(*views, *operator_extra)


def credential_warnings(today: date | None = None) -> list[str]:
    """What staff must act on about the portal's own Microsoft application credential."""
    warnings = []
    if credential_rejected():
        warnings.append(
            "Microsoft rejects the portal's application credential: no organization can grant access or "
            "synchronize until MICROSOFT_CLIENT_SECRET holds a valid secret."
        )
    try:
        expiry = secret_expiry_date()
    except ValueError as exc:
        return [*warnings, str(exc)]
    if expiry is None:
        return warnings
    days_left = (expiry - (today or timezone.now().date())).days
    if days_left < 0:
        warnings.append(f"The portal's client secret expired on {expiry:%Y-%m-%d}: create a new one.")
    elif warning_threshold(days_left) is not None:
        warnings.append(
            f"The portal's client secret expires on {expiry:%Y-%m-%d} ({days_left} days): "
            "create a new one and update MICROSOFT_CLIENT_SECRET and MICROSOFT_CLIENT_SECRET_EXPIRES_ON."
        )
    return warnings


class SupportActionRefused(Exception):
    """A support action that cannot be done on this object; the message says why."""


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        max_length=1000,
        help_text="Shown to the customer on their Activity page. Say why, and for an MFA reset how you checked "
        "the person's identity.",
    )


class SupportActionsMixin:
    """Operators' actions: `has_support_permission` is what `permissions=["support"]` asks for."""

    def has_support_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(SUPPORT_ACTIONS_PERMISSION)


M = TypeVar("M", bound=models.Model)


def support_action(
    description: str, perform: Callable[[M, HttpRequest, str], str], *, permission: str = "support"
) -> Callable[..., TemplateResponse | None]:
    """An admin action that asks for a reason on an intermediate page, then runs `perform(obj, request, reason)`
    on each selected object, each in its own savepoint; `perform` returns what it did or raises
    `SupportActionRefused`. `permission` names the model admin's `has_<permission>_permission` that allows it."""

    @admin.action(description=description, permissions=[permission])
    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        form = ReasonForm(request.POST if "confirm" in request.POST else None)
        if form.is_valid():
            for obj in queryset:
                try:
                    with transaction.atomic():
                        done = perform(obj, request, form.cleaned_data["reason"])
                except SupportActionRefused as refusal:
                    modeladmin.message_user(request, f"{obj}: {refusal}", messages.ERROR)
                else:
                    modeladmin.message_user(request, f"{obj}: {done}", messages.SUCCESS)
            return None
        return TemplateResponse(
            request,
            "admin/support_action.html",
            {
                **modeladmin.admin_site.each_context(request),
                "title": description,
                "opts": modeladmin.opts,
                "objects": queryset,
                "form": form,
                "action_name": request.POST["action"],
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            },
        )

    action.__name__ = perform.__name__
    return action
