"""A JSON API to inspect the simulator and switch faults on, for tests and by hand (see the README).

Development only, like the whole simulator. Its one credential is a bearer token for the run
(`M365SIM_CONTROL_TOKEN`, which m365sim_serve makes when it is not set and writes to var/m365sim-control-token).
"""

import contextlib
import datetime as dt
import hmac
import json
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from m365sim import services
from m365sim.models import (
    AccessPolicy,
    Application,
    DriveState,
    Group,
    MemberObject,
    RequestCount,
    ServicePrincipal,
    Site,
    Tenant,
    User,
)
from m365sim.routers import ALIAS


class ControlError(Exception):
    pass


def _cross_site(request: HttpRequest) -> str | None:
    """Why a request may come from another site's page, which must not drive the simulator (None: it does not).

    Besides the token, what browsers add or cannot forge: an `Origin` on cross-origin requests, and a CORS
    preflight (which the simulator never answers) before any POST whose Content-Type is application/json. A form or
    a `text/plain` fetch cannot send that type.
    """
    origin = request.headers.get("Origin")
    if origin and urlsplit(origin).netloc != request.headers.get("Host", ""):
        return f"Requests from {origin} are refused: the control API answers only its own origin and scripts."
    if request.method == "POST" and request.content_type != "application/json":
        return "POST a JSON object with Content-Type: application/json (curl --json '{...}')."
    return None


def _authorized(request: HttpRequest) -> bool:
    expected = settings.M365SIM_CONTROL_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return bool(expected) and scheme == "Bearer" and hmac.compare_digest(given.strip().encode(), expected.encode())


def control_view(methods: list[str]) -> Callable[[Callable[..., Any]], Callable[..., HttpResponse]]:
    def decorator(view: Callable[..., Any]) -> Callable[..., HttpResponse]:
        @require_http_methods(methods)
        def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            refused = _cross_site(request)
            if refused is not None:
                return JsonResponse({"error": refused}, status=403)
            if not _authorized(request):
                return JsonResponse(
                    {
                        "error": "Send the run's control token: Authorization: Bearer <token> (m365sim_serve prints "
                        "it and writes it to var/m365sim-control-token)."
                    },
                    status=401,
                )
            try:
                body = json.loads(request.body or b"{}") if request.method == "POST" else {}
                if not isinstance(body, dict):
                    raise ControlError("The body must be a JSON object.")
                return JsonResponse(view(request, body, **kwargs))
            except Http404 as exc:
                return JsonResponse({"error": str(exc)}, status=404)
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


def _member_object(tenant: Tenant, value: str) -> MemberObject:
    try:
        obj = MemberObject.objects.filter(tenant=tenant, pk=uuid.UUID(value)).first()
    except ValueError:
        obj = None
    if obj is None:
        raise ControlError(f"No contact, device or service principal {value!r} in {tenant.slug}.")
    return obj


def _uuid_field(body: dict[str, Any], name: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(body[name]) if body.get(name) else None
    except (ValueError, AttributeError, TypeError):
        raise ControlError(f"{name} must be a GUID.") from None


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def tenant_state(tenant: Tenant) -> dict[str, Any]:
    return {
        "id": str(tenant.id),
        "slug": tenant.slug,
        "display_name": tenant.display_name,
        "domains": list(tenant.domains.values_list("name", flat=True)),
        "faults": {name: getattr(tenant, name) for name in services.FAULT_FIELDS},
        "page_tokens_valid_after": _iso(tenant.page_tokens_valid_after),
        "service_principals": [
            {
                "client_id": str(sp.application_id),
                "account_enabled": sp.account_enabled,
                "admin_consented_at": _iso(sp.admin_consented_at),
                "granted_roles": sp.granted_roles,
            }
            for sp in tenant.service_principals.all()
        ],
        "access_policies": [policy_json(p) for p in tenant.access_policies.select_related("group")],
        "requests": services.request_counts(tenant),
    }


def policy_json(policy: AccessPolicy) -> dict[str, Any]:
    return {
        "id": policy.id,
        "client_id": str(policy.app_id),
        "group": str(policy.group_id),
        "group_name": policy.group.display_name,
        "access_right": policy.access_right,
        "effective_at": _iso(policy.effective_at),
        "lifted_at": _iso(policy.lifted_at),
        "active": policy.active(timezone.now()),
    }


@control_view(["GET"])
def tenant_detail(request: HttpRequest, body: dict[str, Any], tenant: str) -> dict[str, Any]:
    return tenant_state(_tenant(tenant))


@control_view(["POST"])
def faults(request: HttpRequest, body: dict[str, Any], tenant: str) -> dict[str, Any]:
    """{"throttle_next": 3, "throttle_retry_after": 1, ...} sets those faults; {"reset": true} clears them all;
    {"expire_page_tokens": true} expires every $skiptoken issued until now."""
    found = _tenant(tenant)
    reset, expire_page_tokens = body.pop("reset", False), body.pop("expire_page_tokens", False)
    with transaction.atomic(using=ALIAS):  # a bad fault in the body undoes the reset with it
        if reset:
            services.reset_faults(found)
        services.set_faults(found, **body)
        if expire_page_tokens:
            services.expire_page_tokens(found)
    found.refresh_from_db()
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


def _add_user(tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    user = services.add_user(
        tenant,
        user_principal_name=body["user_principal_name"],
        display_name=body["display_name"],
        account_enabled=body.get("account_enabled", True),
    )
    return {"id": str(user.id)}


def _update_user(tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    fields = {k: body[k] for k in ("display_name", "account_enabled", "job_title") if k in body}
    return {"id": str(services.update_user(_user(tenant, body["user"]), **fields).id)}


def _delete_user(tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    user = _user(tenant, body["user"])
    services.delete_user(user, permanent=bool(body.get("permanent", False)))
    return {"id": str(user.id)}


def _add_group(tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    group = services.add_group(
        tenant,
        display_name=body["display_name"],
        mail_enabled=body.get("mail_enabled", False),
        unified=body.get("unified", False),
    )
    return {"id": str(group.id)}


def _update_group(tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    fields = {k: body[k] for k in ("display_name", "description") if k in body}
    return {"id": str(services.update_group(_group(tenant, body["group"]), **fields).id)}


def _delete_group(tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    group = _group(tenant, body["group"])
    services.delete_group(group, permanent=bool(body.get("permanent", False)))
    return {"id": str(group.id)}


def _add_member_object(kind: str) -> Callable[[Tenant, dict[str, Any]], dict[str, Any]]:
    def add(tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
        obj = services.add_member_object(
            tenant,
            kind=kind,
            display_name=body["display_name"],
            mail=body.get("mail", ""),
            device_id=_uuid_field(body, "device_id"),
            app_id=_uuid_field(body, "app_id"),
        )
        return {"id": str(obj.id)}

    return add


def _delete_object(tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    obj = _member_object(tenant, body["object"])
    services.delete_member_object(obj, permanent=bool(body.get("permanent", False)))
    return {"id": str(obj.id)}


def _member(tenant: Tenant, body: dict[str, Any]) -> services.Member:
    """The member an add_member or remove_member names: "user", "member_group" or "object" (a contact, a device
    or a service principal)."""
    named = [key for key in ("user", "member_group", "object") if key in body]
    if len(named) != 1:
        raise ControlError('Name the member with exactly one of "user", "member_group" or "object".')
    if named == ["user"]:
        return _user(tenant, body["user"])
    if named == ["member_group"]:
        return _group(tenant, body["member_group"])
    return _member_object(tenant, body["object"])


def _add_member(tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    group, member = _group(tenant, body["group"]), _member(tenant, body)
    services.add_member(group, member)
    return {"group": str(group.id), "member": str(member.id)}


def _remove_member(tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    group, member = _group(tenant, body["group"]), _member(tenant, body)
    services.remove_member(group, member)
    return {"group": str(group.id), "member": str(member.id)}


def _set_mailbox(tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    ready = body.get("ready_in_seconds")
    user = services.set_mailbox(
        _user(tenant, body["user"]), body["state"], ready_in_seconds=float(ready) if ready is not None else None
    )
    return {"id": str(user.id), "mailbox": user.mailbox, "mailbox_ready_at": _iso(user.mailbox_ready_at)}


def _set_drive(tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    user = services.set_drive(_user(tenant, body["user"]), body["state"])
    return {"id": str(user.id), "drive": user.drive}


def _provision_drive(tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    return _set_drive(tenant, {**body, "state": DriveState.PROVISIONED})


def _set_licensed(tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    user = services.set_licensed(_user(tenant, body["user"]), bool(body["licensed"]))
    return {"id": str(user.id), "assigned_licenses": user.assigned_licenses}


def _set_team(tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    group = services.set_team(_group(tenant, body["group"]), bool(body.get("team", True)))
    return {"id": str(group.id), "is_team": group.is_team}


def _add_site(tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    site = services.add_site(tenant, display_name=body["display_name"], name=body.get("name", ""))
    return {"id": site.id, "web_url": site.web_url}


def _delete_site(tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    site = Site.objects.filter(tenant=tenant, pk=body["site"]).first()
    if site is None:
        raise ControlError(f"No site {body['site']!r} in {tenant.slug}.")
    services.delete_site(site)
    return {"id": body["site"]}


DIRECTORY_OPS: dict[str, Callable[[Tenant, dict[str, Any]], dict[str, Any]]] = {
    "add_user": _add_user,
    "update_user": _update_user,
    "delete_user": _delete_user,
    "add_group": _add_group,
    "update_group": _update_group,
    "delete_group": _delete_group,
    "add_contact": _add_member_object(MemberObject.Kind.CONTACT),
    "add_device": _add_member_object(MemberObject.Kind.DEVICE),
    "add_service_principal": _add_member_object(MemberObject.Kind.SERVICE_PRINCIPAL),
    "delete_object": _delete_object,
    "add_member": _add_member,
    "remove_member": _remove_member,
    "set_mailbox": _set_mailbox,
    "set_drive": _set_drive,
    "provision_drive": _provision_drive,
    "set_licensed": _set_licensed,
    "set_team": _set_team,
    "add_site": _add_site,
    "delete_site": _delete_site,
}


@control_view(["POST"])
def directory_change(request: HttpRequest, body: dict[str, Any], tenant: str) -> dict[str, Any]:
    """{"op": one of DIRECTORY_OPS, ...}; see the README for each operation's fields."""
    found = _tenant(tenant)
    op = DIRECTORY_OPS.get(body.get("op", ""))
    if op is None:
        raise ControlError(f"Unknown op {body.get('op')!r}.")
    return op(found, body)


def _delay(body: dict[str, Any]) -> float | None:
    return float(body["delay_seconds"]) if body.get("delay_seconds") is not None else None


@control_view(["GET", "POST"])
def access_policies(request: HttpRequest, body: dict[str, Any], tenant: str) -> dict[str, Any]:
    """{"action": "apply", "group": ..., "access_right": "RestrictAccess" | "DenyAccess", "client_id": ...,
    "delay_seconds": ...} or {"action": "lift", "policy": <id>, "delay_seconds": ...}; GET lists them."""
    found = _tenant(tenant)
    result: dict[str, Any] = {}
    if request.method == "POST":
        action = body.get("action")
        if action == "apply":
            policy = services.apply_access_policy(
                found,
                _group(found, body["group"]),
                access_right=body.get("access_right", AccessPolicy.Right.RESTRICT),
                app_id=str(_uuid_field(body, "client_id") or settings.MICROSOFT_CLIENT_ID),
                delay_seconds=_delay(body),
                description=body.get("description", ""),
            )
        elif action == "lift":
            named = AccessPolicy.objects.filter(tenant=found, pk=int(body["policy"])).first()
            if named is None:
                raise ControlError(f"No access policy {body['policy']!r} in {found.slug}.")
            policy = services.lift_access_policy(named, delay_seconds=_delay(body))
        else:
            raise ControlError('action must be "apply" or "lift".')
        result["policy"] = policy_json(AccessPolicy.objects.select_related("group").get(pk=policy.pk))
    result["policies"] = [policy_json(p) for p in found.access_policies.select_related("group")]
    return result


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
