"""Grant Access: the form, the two callbacks from Microsoft, the attempt's status, Service Status and Remove."""

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from casportal.clientip import rate_limit_address
from casportal.ratelimit import allow
from directory import runs, selection
from directory.models import ACTIVE_SYNC_STATUSES
from grant import access, refusals, removal, status, waiting
from grant import services as grants
from grant.forms import GrantForm, RemoveForm
from grant.models import GrantAttempt, GrantStep
from grant.permissions import DIRECTORY_PERMISSIONS, SERVICE_ACCESS, SIGN_IN_PERMISSION
from organizations.models import Membership, ProtectedService, ServiceKind, ServiceStatus
from organizations.scoping import OrganizationRequest, membership_for, organization_view, scoped, scoped_get_or_404


def _refused_page(request: HttpRequest, refused: refusals.GrantRefused) -> HttpResponse:
    membership = _member_of(request, refused.organization_slug)
    if membership is not None:
        # The callbacks are not organization pages, but the attempt named one: its member keeps its navigation.
        request.organization = membership.organization  # type: ignore[attr-defined]
        request.membership = membership  # type: ignore[attr-defined]
    return render(
        request,
        "grant/grant_refused.html",
        {
            "title": "Access was not granted",
            "message": refused.message,
            "advice": refused.advice,
            "try_again": refused.service_kind if membership is not None and membership.is_admin else None,
        },
        status=400,
    )


def _member_of(request: HttpRequest, slug: str | None) -> Membership | None:
    if slug is None or not request.user.is_authenticated:
        return None
    try:
        return membership_for(request.user, slug)
    except Http404:
        return None


def _session_key(request: HttpRequest) -> str:
    if request.session.session_key is None:
        request.session.save()
    return request.session.session_key or ""


def _admins_only(request: OrganizationRequest, what: str) -> None:
    """Read-only members see no form they cannot submit: opened by its address, a page says why (403)."""
    if not request.membership.is_admin:
        raise PermissionDenied(
            f"Only an administrator of {request.organization.name} can {what}: you are a read-only member."
        )


@organization_view
@require_http_methods(["GET", "POST"])
def grant_start(request: OrganizationRequest, service_kind: str) -> HttpResponse:
    _admins_only(request, "grant access to a Microsoft 365 service")
    service = scoped_get_or_404(request, ProtectedService, kind=service_kind)
    if not service.can_be_granted:
        messages.info(request, f"{service.get_kind_display()} already has access.")
        return redirect("service_status", org_slug=request.organization.slug)
    fixed_mode = runs.fixed_sync_mode(request.organization)
    form = GrantForm(
        request.POST or None,
        service=service,
        fixed_mode=fixed_mode,
        initial=grants.previous_choices(service, request.user),
    )
    in_flight = grants.in_flight_attempt(service)
    if request.method == "POST" and form.is_valid():
        try:
            consent_url = grants.start_grant(
                service=service,
                actor=request.user,
                session_key=_session_key(request),
                redirect_uri=request.build_absolute_uri(reverse("grant_consent_callback")),
                policy=form.cleaned_data["policy"],
                sync_mode=form.cleaned_data["sync_mode"],
            )
        except refusals.GrantInProgress as exc:
            in_flight = exc.attempt  # the notice of the attempt in progress says it, once
        except refusals.GrantRuleViolation as exc:
            form.add_error(None, str(exc))
        else:
            return redirect(consent_url)
    access_of = SERVICE_ACCESS[ServiceKind(service.kind)]
    return render(
        request,
        "grant/grant_form.html",
        {
            "service": service,
            "form": form,
            "mode_fixed": fixed_mode is not None,
            "in_flight": in_flight,
            "can_resume": in_flight is not None
            and grants.can_resume(in_flight, request.user, request.session.session_key or ""),
            "is_recreate": service.status == ServiceStatus.ACCESS_TOKEN_INVALID,
            "access": access_of,
            "directory_permissions": DIRECTORY_PERMISSIONS,
            "sign_in_permission": SIGN_IN_PERMISSION,
            "service_names": ServiceKind.labels,
        },
        status=400 if request.method == "POST" else 200,
    )


@organization_view
@require_POST
def grant_resume(request: OrganizationRequest, service_kind: str) -> HttpResponse:
    service = scoped_get_or_404(request, ProtectedService, kind=service_kind)
    try:
        url = grants.resume_grant(
            service=service,
            actor=request.user,
            session_key=_session_key(request),
            consent_redirect_uri=request.build_absolute_uri(reverse("grant_consent_callback")),
            identity_redirect_uri=request.build_absolute_uri(reverse("grant_identity_callback")),
        )
    except refusals.GrantInProgress as exc:
        return redirect(
            "grant_status",
            org_slug=request.organization.slug,
            service_kind=service.kind,
            attempt_id=exc.attempt.public_id,
        )
    except refusals.GrantRuleViolation as exc:
        messages.error(request, str(exc))
        return redirect("service_status", org_slug=request.organization.slug)
    except refusals.GrantRefused as refused:
        return _refused_page(request, refused)
    return redirect(url)


@organization_view
@require_POST
def grant_cancel(request: OrganizationRequest, service_kind: str) -> HttpResponse:
    service = scoped_get_or_404(request, ProtectedService, kind=service_kind)
    cancelled = grants.cancel_grant(service=service, actor=request.user)
    if cancelled:
        messages.success(
            request, f"The grant of {service.get_kind_display()} started by {cancelled.user.email} was cancelled."
        )
    else:
        messages.info(request, "No grant was in progress.")
    if request.POST.get("return_to") == "service_status":
        return redirect("service_status", org_slug=request.organization.slug)
    return redirect("grant_start", org_slug=request.organization.slug, service_kind=service.kind)


def _handle_callback(request: HttpRequest, handler: Callable[..., refusals.CallbackResult]) -> HttpResponse:
    """Both legs return to fixed URLs; the organization and service come from the attempt the state names."""
    if not request.user.is_authenticated and not allow(
        f"grant-callback:{rate_limit_address(request)}", limit=settings.GRANT_CALLBACK_ANONYMOUS_PER_MINUTE
    ):
        # Anonymous callbacks are refused without an audit event; a flood of them is cut short here.
        return render(request, "grant/callback_rate_limited.html", status=429)
    try:
        result = handler(
            request.GET.dict(),
            user=request.user,
            session_key=request.session.session_key or "",
            identity_redirect_uri=request.build_absolute_uri(reverse("grant_identity_callback")),
        )
    except refusals.GrantRefused as refused:
        return _refused_page(request, refused)
    if result.redirect_to:
        return redirect(result.redirect_to)
    attempt = result.attempt
    return redirect(
        "grant_status",
        org_slug=attempt.organization.slug,
        service_kind=attempt.service.kind,
        attempt_id=attempt.public_id,
    )


@require_GET
def consent_callback(request: HttpRequest) -> HttpResponse:
    return _handle_callback(request, grants.handle_consent_callback)


@require_GET
def identity_callback(request: HttpRequest) -> HttpResponse:
    return _handle_callback(request, grants.handle_identity_callback)


@organization_view
@require_GET
def grant_status(request: OrganizationRequest, service_kind: str, attempt_id: str) -> HttpResponse:
    service = scoped_get_or_404(request, ProtectedService, kind=service_kind)
    attempt = scoped_get_or_404(request, GrantAttempt, service=service, public_id=attempt_id)
    if attempt.step == GrantStep.CHOOSING_USERS:
        return _redirect(request, "selected_users", service)
    if attempt.step == GrantStep.PROVISIONING:
        return _redirect(request, "sync_progress", service)
    wait = waiting.access_wait(attempt) if attempt.step == GrantStep.AWAITING_ACCESS else None
    at_microsoft = attempt.step in grants.SIGN_IN_STEPS and attempt.expires_at > timezone.now()
    return render(
        request,
        "grant/grant_status.html",
        {
            "service": service,
            "attempt": attempt,
            "wait": wait,
            "at_microsoft": at_microsoft,
            "can_resume": at_microsoft and grants.can_resume(attempt, request.user, request.session.session_key or ""),
        },
    )


def _redirect(request: HttpRequest, name: str, service: ProtectedService) -> HttpResponse:
    url = reverse(name, kwargs={"org_slug": service.organization.slug, "service_kind": service.kind})
    if request.headers.get("HX-Request"):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


@organization_view
@require_GET
def service_status(request: OrganizationRequest) -> HttpResponse:
    """Dashboard > Service Status: one row per protected service, and the organization's synchronization."""
    organization = request.organization
    # The services with their coverage, and the organization's sync settings, in one query.
    services = sorted(
        scoped(request, ProtectedService).select_related("coverage", "organization__sync_settings").order_by(),
        key=lambda service: service.catalog_position,
    )
    sync_settings = services[0].organization.sync_settings if services else runs.sync_settings_for(organization)
    lines = status.service_lines(
        services,
        status.scope_of(organization, sync_settings.mode),
        grants.in_flight(scoped(request, GrantAttempt)),
    )
    session_key = request.session.session_key or ""
    resumable = {
        line.service.pk
        for line in lines
        if line.attempt is not None and grants.can_resume(line.attempt, request.user, session_key)
    }
    last_run = runs.latest_run(organization)
    running = last_run if last_run is not None and last_run.status in ACTIVE_SYNC_STATUSES else None
    granted = [service for service in services if service.status != ServiceStatus.NOT_GRANTED]
    return render(
        request,
        "grant/service_status.html",
        {
            "lines": lines,
            "resumable": resumable,
            "sync_settings": sync_settings,
            "last_run": last_run,
            "running": running,
            # Sync now runs under a service whose access token works: with none it can only fail.
            "sync_now_works": any(service.status != ServiceStatus.ACCESS_TOKEN_INVALID for service in granted),
            "granted_names": [service.get_kind_display() for service in granted],
        },
    )


@organization_view
@require_POST
def sync_retry(request: OrganizationRequest, service_kind: str) -> HttpResponse:
    service = scoped_get_or_404(request, ProtectedService, kind=service_kind)
    try:
        access.retry_provisioning(service=service, actor=request.user)
    except selection.SelectionError as exc:
        messages.error(request, str(exc))
        return redirect("service_status", org_slug=request.organization.slug)
    return redirect("sync_progress", org_slug=request.organization.slug, service_kind=service.kind)


@organization_view
@require_http_methods(["GET", "POST"])
def service_remove(request: OrganizationRequest, service_kind: str) -> HttpResponse:
    _admins_only(request, "remove a service's access")
    service = scoped_get_or_404(request, ProtectedService, kind=service_kind)
    if not hasattr(service, "service_account"):
        messages.info(request, f"{service.get_kind_display()} has no access grant to remove.")
        return redirect("service_status", org_slug=request.organization.slug)
    form = RemoveForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            last = removal.remove_service(
                service=service, actor=request.user, confirmation=form.cleaned_data["confirmation"]
            )
        except removal.RemovalNotConfirmed as exc:
            form.add_error("confirmation", str(exc))
        else:
            return render(request, "grant/removed.html", {"service": service, "last": last})
    return render(
        request,
        "grant/remove_confirm.html",
        {"service": service, "form": form, "preview": removal.preview_removal(service)},
        status=400 if request.method == "POST" else 200,
    )
