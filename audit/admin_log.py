"""What staff do in Django admin, in the audit log: every add, change and delete, and every support action.

Django admin runs `changeform_view` and `delete_view` in a transaction; actions run in one here too, so each
event commits or rolls back with the change it records.
"""

from collections.abc import Sequence
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.db import models, transaction
from django.db.models import QuerySet
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from audit.models import Action, AuditEvent
from audit.services import Actor, SupportAction, record_event

# Fields whose name contains one of these hold a secret or what stands for one (a hash, a key): their values never
# reach the log (only that they changed), and admin never filters on them (a prefix filter reads a hash out).
SECRET_MARKERS = ("password", "secret", "token", "hash", "key")
MAX_VALUE_LENGTH = 200


def names_a_secret(name: str) -> bool:
    return any(marker in name.lower() for marker in SECRET_MARKERS)


def _organization_model() -> type[models.Model]:
    # What an audit event names as its organization; audit sits below the organizations app and imports none of it.
    return AuditEvent._meta.get_field("organization").related_model  # type: ignore[return-value]


def _organization_of(obj: models.Model) -> models.Model | None:
    if isinstance(obj, _organization_model()):
        return obj if obj.pk else None
    organization = getattr(obj, "organization", None)
    return organization if isinstance(organization, _organization_model()) else None


def _shown(name: str, value: Any) -> str:
    if names_a_secret(name):
        return "(hidden)"
    if isinstance(value, models.Model):
        value = str(value)
    elif isinstance(value, QuerySet | list | tuple):
        value = ", ".join(sorted(str(item) for item in value))
    text = "" if value is None else str(value)
    return text[:MAX_VALUE_LENGTH]


def form_changes(form: forms.BaseForm) -> dict[str, list[str]]:
    """Changed fields of a submitted form as {field: [before, after]}."""
    changes = {}
    for name in form.changed_data:
        field = form.fields[name]
        before = form.get_initial_for_field(field, name)
        # Initial values of relations are primary keys: show the objects.
        if isinstance(field, forms.ModelChoiceField) and field.queryset is not None and before is not None:
            if isinstance(field, forms.ModelMultipleChoiceField):
                before = field.queryset.filter(pk__in=[getattr(item, "pk", item) for item in before])
            else:
                before = field.queryset.filter(pk=getattr(before, "pk", before)).first()
        changes[name] = [_shown(name, before), _shown(name, form.cleaned_data.get(name))]
    return changes


def _describe(obj: models.Model) -> dict[str, str]:
    return {"model": obj._meta.label, "object": str(obj)[:MAX_VALUE_LENGTH], "id": str(obj.pk)}


def _own_organization(obj: models.Model, action: Action) -> list[models.Model]:
    if action == Action.ADMIN_DELETED and isinstance(obj, _organization_model()):
        return []  # the row the event would name is going
    organization = _organization_of(obj)
    return [organization] if organization is not None else []


def record_admin_event(
    action: Action,
    *,
    actor: Actor,
    obj: models.Model,
    organizations: Sequence[models.Model] | None = None,
    changes: dict[str, list[str]] | None = None,
    description: dict[str, str] | None = None,
) -> list[AuditEvent]:
    """A staff member's add, change or delete in Django admin, naming the model and object: one event in each
    organization it concerns (by default the object's own), so each one's Activity shows it; or one in none."""
    details: dict[str, Any] = {**(description or _describe(obj)), "admin": True}
    if changes:
        details["changes"] = changes
    if organizations is None:
        organizations = _own_organization(obj, action)
    concerned: Sequence[models.Model | None] = organizations or [None]
    return [
        record_event(action, actor=actor, organization=organization, target=str(obj), details=details)
        for organization in concerned
    ]


class AuditedAdminMixin:
    """Records each admin add, change and delete (inline rows included) as an audit event naming the staff member.

    A model admin whose deletes go through a service sets `deletes_audited_by_service`: the service records the
    deletion in its own words (member.removed), so no generic admin.deleted is written besides. One whose objects
    concern organizations they do not name (a user and what belongs to one) says which in `organizations_of`.
    """

    deletes_audited_by_service = False
    # Fields that hold a secret although their name does not say so; never filtered on, like those that do.
    secret_fields: tuple[str, ...] = ()

    def organizations_of(self, obj: Any) -> Sequence[models.Model] | None:  # noqa: ARG002 (for subclasses)
        """The organizations whose Activity shows a change to `obj`; None for the object's own organization."""
        return None

    def save_model(self, request: HttpRequest, obj: Any, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)  # type: ignore[misc]
        if change:
            changes = form_changes(form)
            if changes:
                self._record(request, Action.ADMIN_CHANGED, obj, changes=changes)
        else:
            self._record(request, Action.ADMIN_ADDED, obj)

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        changed = {
            inline_form.instance.pk: form_changes(inline_form)
            for inline_form in formset.initial_forms
            if inline_form.has_changed() and inline_form not in formset.deleted_forms
        }
        deleted = [(inline_form.instance, _describe(inline_form.instance)) for inline_form in formset.deleted_forms]
        super().save_formset(request, form, formset, change)  # type: ignore[misc]
        for obj in formset.new_objects:
            self._record(request, Action.ADMIN_ADDED, obj)
        for obj, _fields in formset.changed_objects:
            self._record(request, Action.ADMIN_CHANGED, obj, changes=changed.get(obj.pk, {}))
        for obj, description in deleted:
            self._record(request, Action.ADMIN_DELETED, obj, description=description)

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        # Called by the delete view and the bulk delete action just before the rows go.
        if not self.deletes_audited_by_service:
            for obj in queryset:
                self._record(request, Action.ADMIN_DELETED, obj)
        return super().log_deletions(request, queryset)  # type: ignore[misc]

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        parts = lookup.split(LOOKUP_SEP)
        if parts[0] in self.secret_fields or any(names_a_secret(part) for part in parts):
            return False
        return super().lookup_allowed(lookup, value, request)  # type: ignore[misc]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        try:
            return super().changelist_view(request, extra_context)  # type: ignore[misc]
        except DisallowedModelAdminLookup as refusal:
            self.message_user(request, f"{refusal}: the list is shown unfiltered.", messages.ERROR)  # type: ignore[attr-defined]
            return HttpResponseRedirect(request.path)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)  # type: ignore[misc]
        if self.has_change_permission(request):  # type: ignore[attr-defined]
            return actions
        # An action that declares no permission (a package's, e.g. allauth's make_verified) may write: not for
        # staff who may only view.
        return {name: action for name, action in actions.items() if getattr(action[0], "allowed_permissions", ())}

    def response_action(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        with transaction.atomic(using=queryset.db):
            return super().response_action(request, queryset)  # type: ignore[misc]

    def _record(
        self,
        request: HttpRequest,
        action: Action,
        obj: models.Model,
        *,
        changes: dict[str, list[str]] | None = None,
        description: dict[str, str] | None = None,
    ) -> list[AuditEvent]:
        return record_admin_event(
            action,
            actor=request.user,
            obj=obj,
            organizations=self.organizations_of(obj),
            changes=changes,
            description=description,
        )


def record_support_event(
    action: Action, *, actor: Actor, reason: str, organization: models.Model | None, target: str, **details: Any
) -> AuditEvent:
    """A support action, shown to the customer on their Activity page as done by support, with the reason."""
    return record_event(
        action,
        actor=actor,
        organization=organization,
        target=target,
        details=details,
        support=SupportAction(action, reason),
    )


def audited(model_admin: type[admin.ModelAdmin]) -> type[admin.ModelAdmin]:
    """The same ModelAdmin, audited (for the admins of installed packages)."""
    return type(model_admin.__name__, (AuditedAdminMixin, model_admin), {})
