"""A JSON API to inspect the simulator and switch faults on, for tests and by hand (see the README).

Development only, like the whole simulator: it has no authentication.
"""

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_http_methods

from m365sim import services
from m365sim.models import Application, Group, RequestCount, ServicePrincipal, Tenant, User


class ControlError(Exception):
    pass


def control_view(methods: list[str]) -> Callable[[Callable[..., Any]], Callable[..., HttpResponse]]:
    def decorator(view: Callable[..., Any]) -> Callable[..., HttpResponse]:
        @require_http_methods(methods)
        def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            try:
                body = json.loads(request.body or b"{}") if request.method == "POST" else {}
                if not isinstance(body, dict):
                    raise ControlError("The body must be a JSON object.")
                return JsonResponse(view(request, body, **kwargs))
            except (ControlError, ValueError, KeyError, TypeError) as exc:
                return JsonResponse({"error": str(exc)}, status=400)

        return wrapper

    return decorator


def _tenant(value: str) -> Tenant:
    query = Q(slug=value) | Q(domains__name__iexact=value)
    with contextlib.suppress(ValueError):
        query |= Q(pk=uuid.UUID(value))
    tenant = Tenant.objects.filter(query).distinct().first()
    if tenant is None:
        raise Http404(f"No simulated tenant {value!r}.")
    return tenant


def _application(client_id: str) -> Application:
    application = Application.objects.filter(pk=client_id).first()
    if application is None:
        raise Http404(f"No application {client_id!r}.")
    return application


def _user(tenant: Tenant, value: str) -> User:
    users = User.objects.filter(tenant=tenant)
    try:
        user = users.filter(pk=uuid.UUID(value)).first()
    except ValueError:
        user = users.filter(user_principal_name__iexact=value).first()
    if user is None:
        raise ControlError(f"No user {value!r} in {tenant.slug}.")
    return user


def _group(tenant: Tenant, value: str) -> Group:
    groups = Group.objects.filter(tenant=tenant)
    try:
        group = groups.filter(pk=uuid.UUID(value)).first()
    except ValueError:
        group = groups.filter(display_name=value).first()
    if group is None:
        raise ControlError(f"No group {value!r} in {tenant.slug}.")
    return group


def tenant_state(tenant: Tenant) -> dict[str, Any]:
    return {
        "id": str(tenant.id),
        "slug": tenant.slug,
        "display_name": tenant.display_name,
        "domains": list(tenant.domains.values_list("name", flat=True)),
        "faults": {name: getattr(tenant, name) for name in services.FAULT_FIELDS},
        "service_principals": [
            {
                "client_id": str(sp.application_id),
                "account_enabled": sp.account_enabled,
                "admin_consented_at": sp.admin_consented_at.isoformat() if sp.admin_consented_at else None,
                "granted_roles": sp.granted_roles,
            }
            for sp in tenant.service_principals.all()
        ],
        "requests": services.request_counts(tenant),
    }


@control_view(["GET"])
def tenant_detail(request: HttpRequest, body: dict[str, Any], tenant: str) -> dict[str, Any]:
    return tenant_state(_tenant(tenant))


@control_view(["POST"])
def faults(request: HttpRequest, body: dict[str, Any], tenant: str) -> dict[str, Any]:
    """{"throttle_next": 3, "throttle_retry_after": 1, ...} sets those faults; {"reset": true} clears them all."""
    found = _tenant(tenant)
    if body.pop("reset", False):
        services.reset_faults(found)
    services.set_faults(found, **body)
    return tenant_state(found)


SP_ACTIONS: dict[str, Callable[[ServicePrincipal], None]] = {
    "revoke_consent": services.revoke_consent,
    "disable": lambda sp: services.set_service_principal_enabled(sp, False),
    "enable": lambda sp: services.set_service_principal_enabled(sp, True),
    "delete": services.delete_service_principal,
}


@control_view(["POST"])
def service_principal(request: HttpRequest, body: dict[str, Any], tenant: str, client_id: str) -> dict[str, Any]:
    """{"action": "revoke_consent" | "disable" | "enable" | "delete"}"""
    found = _tenant(tenant)
    sp = ServicePrincipal.objects.filter(tenant=found, application=_application(client_id)).first()
    if sp is None:
        raise ControlError("This application has no service principal in that tenant.")
    action = SP_ACTIONS.get(body.get("action", ""))
    if action is None:
        raise ControlError(f"action must be one of: {', '.join(SP_ACTIONS)}.")
    action(sp)
    return tenant_state(found)


@control_view(["POST"])
def secrets(request: HttpRequest, body: dict[str, Any], client_id: str) -> dict[str, Any]:
    """{"action": "expire"} or {"expires_at": "2030-01-01T00:00:00Z"}: per application, not per tenant."""
    application = _application(client_id)
    if body.get("action") == "expire":
        services.expire_secrets(application)
    elif "expires_at" in body:
        services.expire_secrets(application, at=dt.datetime.fromisoformat(body["expires_at"]))
    else:
        raise ControlError('Send {"action": "expire"} or {"expires_at": "<ISO 8601>"}.')
    return {"secrets": [{"hint": s.hint, "expires_at": s.expires_at.isoformat()} for s in application.secrets.all()]}


@control_view(["POST"])
def directory_change(request: HttpRequest, body: dict[str, Any], tenant: str) -> dict[str, Any]:
    """{"op": "add_user" | "update_user" | "delete_user" | "add_group" | "update_group" | "delete_group"
    | "add_member" | "remove_member", ...}; see the README for each operation's fields."""
    found = _tenant(tenant)
    op = body.get("op")
    if op == "add_user":
        user = services.add_user(
            found,
            user_principal_name=body["user_principal_name"],
            display_name=body["display_name"],
            account_enabled=body.get("account_enabled", True),
        )
        return {"id": str(user.id)}
    if op == "update_user":
        fields = {k: body[k] for k in ("display_name", "account_enabled", "job_title") if k in body}
        return {"id": str(services.update_user(_user(found, body["user"]), **fields).id)}
    if op == "delete_user":
        user = _user(found, body["user"])
        services.delete_user(user, permanent=bool(body.get("permanent", False)))
        return {"id": str(user.id)}
    if op == "add_group":
        group = services.add_group(
            found,
            display_name=body["display_name"],
            mail_enabled=body.get("mail_enabled", False),
            unified=body.get("unified", False),
        )
        return {"id": str(group.id)}
    if op == "update_group":
        fields = {k: body[k] for k in ("display_name", "description") if k in body}
        return {"id": str(services.update_group(_group(found, body["group"]), **fields).id)}
    if op == "delete_group":
        group = _group(found, body["group"])
        services.delete_group(group, permanent=bool(body.get("permanent", False)))
        return {"id": str(group.id)}
    if op in ("add_member", "remove_member"):
        group = _group(found, body["group"])
        member: User | Group = _user(found, body["user"]) if "user" in body else _group(found, body["member_group"])
        if op == "add_member":
            services.add_member(group, member)
        else:
            services.remove_member(group, member)
        return {"group": str(group.id), "member": str(member.id)}
    raise ControlError(f"Unknown op {op!r}.")


@control_view(["GET", "DELETE"])
def requests(request: HttpRequest, body: dict[str, Any], tenant: str) -> dict[str, Any]:
    found = _tenant(tenant)
    if request.method == "DELETE":
        RequestCount.objects.filter(tenant=found).delete()
    return {"requests": services.request_counts(found)}


@control_view(["POST"])
def expire_delta_tokens(request: HttpRequest, body: dict[str, Any], tenant: str) -> dict[str, Any]:
    found = _tenant(tenant)
    services.expire_delta_tokens(found)
    return tenant_state(found)
