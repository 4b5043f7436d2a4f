"""After both legs: proof of access with an app-only token while Microsoft activates the permissions, then the
binding of the Microsoft tenant, the service account and the first synchronization, in one transaction."""

from contextlib import suppress
from typing import Any

from celery import shared_task
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import Action
from audit.services import Actor, SupportAction, record_event
from connection.credential import record_credential_accepted
from connection.models import ServiceAccount
from directory.engine import request_sync
from directory.models import (
    SelectedUser,
    SyncKind,
    SyncMode,
    SyncRun,
    SyncSettings,
    SyncTrigger,
)
from directory.normalize import clean_text
from directory.runs import sync_settings_for
from directory.selection import SelectionError
from grant import waiting
from grant.models import GrantAttempt, GrantStep
from grant.refusals import (
    GrantOutcome,
    GrantRefused,
    access_not_activated,
    access_refused,
    credential_rejected,
    not_global_admin,
    reject,
    role_not_checked,
)
from microsoft import errors, graph, identity
from organizations.models import ProtectedService, ServiceStatus
from organizations.services import lock_organization


def check_grant_access(*, attempt_id: int, user: Actor = None) -> GrantOutcome:
    """One try at proving access; while Microsoft is still activating the permissions, try again later.

    Refusals are recorded on the attempt; a caller that shows a page catches `GrantRefused`.
    """
    outcome, countdown = _verify_grant_access(attempt_id, user)
    if outcome == GrantOutcome.WAITING:
        transaction.on_commit(lambda: check_grant_access_later.apply_async((attempt_id,), countdown=countdown))
    return outcome


@shared_task(name="provisioning.check_grant_access")
def check_grant_access_later(attempt_id: int) -> None:
    """One more try at proving access after consent; requeues itself while Microsoft is still activating it."""
    with suppress(GrantRefused):  # recorded on the attempt, which the admin's page shows
        check_grant_access(attempt_id=attempt_id)


def _verify_grant_access(attempt_id: int, user: Actor) -> tuple[GrantOutcome, float]:
    """Prove app-only access (and the Global Administrator role when the ID token had no role claims); with
    WAITING, when to look again.

    Right after consent Microsoft's answers say it is still propagating the consent (see grant.waiting): that is
    WAITING until the attempt's deadline, never a revoked consent.
    """
    attempt = GrantAttempt.objects.select_related("organization", "service", "user").get(pk=attempt_id)
    if attempt.step != GrantStep.AWAITING_ACCESS:
        bound = attempt.step in (GrantStep.CHOOSING_USERS, GrantStep.PROVISIONING)
        return (GrantOutcome.BOUND if bound else GrantOutcome.ENDED), 0.0
    actor = user or attempt.user
    assert attempt.microsoft_tenant_id is not None
    assert attempt.access_deadline is not None
    try:
        # Fresh tokens every try: a cached one from before the permissions were active would keep failing.
        client = graph.GraphClient(str(attempt.microsoft_tenant_id), fresh_token=True)
        details = client.tenant_details()
        if not attempt.admin_has_role_claims:
            _check_global_administrator(client, attempt, actor)
    except errors.AppCredentialInvalid as exc:
        raise credential_rejected(attempt, actor, exc) from exc
    except (errors.ConsentRevoked, errors.TransientError) as exc:
        step = waiting.still_propagating(exc)
        if step is None:
            raise access_refused(attempt, actor, exc) from exc
        if timezone.now() < attempt.access_deadline:
            waiting.record_wait(attempt, step, exc)
            return GrantOutcome.WAITING, waiting.next_check_in(attempt)
        raise access_not_activated(attempt, actor, step, exc) from exc
    except errors.MicrosoftError as exc:
        raise reject(
            attempt,
            actor,
            "verification_failed",
            f"Access could not be verified: {exc}",
            "Try again; if it keeps failing, contact the service team.",
        ) from exc
    record_credential_accepted()
    _bind_service(attempt, actor, details)
    return GrantOutcome.BOUND, 0.0


def _check_global_administrator(client: graph.GraphClient, attempt: GrantAttempt, actor: Actor) -> None:
    """Without role claims in the ID token, the role's members through Graph. Every tenant has a Global
    Administrator, so a 404 (role not found) says nothing about this one: it reads "could not check", as a 403 does
    once the wait for the permissions is over, never "not a Global Administrator"."""
    try:
        members = client.directory_role_member_ids(identity.GLOBAL_ADMINISTRATOR)
    except errors.NotFound as exc:
        raise role_not_checked(attempt, actor, attempt.admin_upn) from exc
    if str(attempt.admin_object_id) not in members:
        raise not_global_admin(attempt, actor, attempt.admin_upn)


def tenant_label(details: graph.MicrosoftTenantDetails) -> str:
    """How the Activity page names a Microsoft 365 tenant: its name and default domain, as Microsoft gives them."""
    default = next((domain.name for domain in details.verified_domains if domain.is_default), "")
    name = clean_text(details.display_name, 200)[0]
    label = f"{name} ({clean_text(default, 200)[0]})" if name and default else name or default
    return label or details.id


def _bind_service(attempt: GrantAttempt, actor: Actor, details: graph.MicrosoftTenantDetails) -> None:
    """Bind the Microsoft tenant, create the service account and start synchronizing, in one transaction."""
    microsoft_tenant_details_id = details.id
    try:
        with transaction.atomic():
            locked = GrantAttempt.objects.select_for_update().get(pk=attempt.pk)
            if locked.step != GrantStep.AWAITING_ACCESS:
                return
            organization = lock_organization(attempt.organization_id)
            microsoft_tenant_id = attempt.microsoft_tenant_id
            if str(microsoft_tenant_id) != microsoft_tenant_details_id:
                raise GrantRefusedLater("Microsoft answered for another tenant than the one that consented.")
            if organization.microsoft_tenant_id is None:
                organization.microsoft_tenant_id = microsoft_tenant_id
                organization.save(update_fields=["microsoft_tenant_id"])
                record_event(
                    Action.MICROSOFT_TENANT_BOUND,
                    actor=actor,
                    organization=organization,
                    target=tenant_label(details),
                    details={"microsoft_tenant_id": str(microsoft_tenant_id)},
                )
            elif organization.microsoft_tenant_id != microsoft_tenant_id:
                raise GrantRefusedLater("This organization is connected to another Microsoft 365 tenant.")
            settings_row = SyncSettings.objects.select_for_update().get(organization=organization)
            first_service = (
                not ServiceAccount.objects.filter(organization=organization).exclude(service=attempt.service).exists()
            )
            if first_service and not attempt.is_recreate:
                settings_row.mode = attempt.sync_mode
                settings_row.save(update_fields=["mode", "updated_at"])
            now = timezone.now()
            defaults: dict[str, Any] = {
                "organization": organization,
                "microsoft_tenant_id": microsoft_tenant_id,
                "authorized_account": attempt.admin_upn,
                "authorized_object_id": attempt.admin_object_id,
                "granted_at": now,
                "granted_by": attempt.user,
            }
            if not attempt.is_recreate:
                defaults["auto_enable_policy"] = attempt.policy
            ServiceAccount.objects.update_or_create(service=attempt.service, defaults=defaults)
            service = attempt.service
            service.status = ServiceStatus.PROVISIONING
            service.authorized_account = attempt.admin_upn
            service.granted_at = now
            service.last_error = ""
            service.save(update_fields=["status", "authorized_account", "granted_at", "last_error"])
            record_event(
                Action.SERVICE_ACCOUNT_CREATED,
                actor=actor,
                organization=organization,
                target=service.get_kind_display(),
                details={"authorized_account": attempt.admin_upn, "attempt": str(attempt.public_id)},
            )
            # Certain users are chosen before the first sync; a recreated grant syncs the list it has.
            choose_first = settings_row.mode == SyncMode.CERTAIN and not attempt.is_recreate
            locked.step = GrantStep.CHOOSING_USERS if choose_first else GrantStep.PROVISIONING
            locked.finished_at = now
            locked.save(update_fields=["step", "finished_at"])
            if not choose_first:
                request_sync(
                    service=service,
                    kind=SyncKind.DELTA if settings_row.users_delta_link else SyncKind.FULL,
                    trigger=SyncTrigger.RECREATE if attempt.is_recreate else SyncTrigger.GRANT,
                    actor=actor,
                )
    except (GrantRefusedLater, IntegrityError) as exc:
        message = (
            "This Microsoft 365 tenant is already registered by another organization."
            if isinstance(exc, IntegrityError)
            else str(exc)
        )
        raise reject(attempt, actor, "bind_refused", message) from exc


class GrantRefusedLater(Exception):
    """A rule found broken at the moment of binding (a concurrent grant elsewhere)."""


@transaction.atomic
def start_selected_users_sync(*, service: ProtectedService, actor: Actor) -> SyncRun:
    service = ProtectedService.objects.select_for_update().select_related("organization").get(pk=service.pk)
    if sync_settings_for(service.organization).mode != SyncMode.CERTAIN:
        raise SelectionError("This organization synchronizes all users and groups.")
    if not ServiceAccount.objects.filter(service=service).exists():
        raise SelectionError(f"{service.get_kind_display()} has no access grant yet.")
    if not SelectedUser.objects.filter(organization=service.organization).exists():
        raise SelectionError("Choose at least one user to synchronize.")
    GrantAttempt.objects.filter(service=service, step=GrantStep.CHOOSING_USERS).update(step=GrantStep.PROVISIONING)
    return request_sync(service=service, kind=SyncKind.CERTAIN_USERS, trigger=SyncTrigger.GRANT, actor=actor).run


@transaction.atomic
def retry_provisioning(*, service: ProtectedService, actor: Actor, support: SupportAction | None = None) -> SyncRun:
    service = ProtectedService.objects.select_for_update().select_related("organization").get(pk=service.pk)
    if service.status != ServiceStatus.FAILED or not ServiceAccount.objects.filter(service=service).exists():
        raise SelectionError("There is no failed synchronization to try again.")
    certain = sync_settings_for(service.organization).mode == SyncMode.CERTAIN
    service.status = ServiceStatus.PROVISIONING
    service.save(update_fields=["status"])
    return request_sync(
        service=service,
        kind=SyncKind.CERTAIN_USERS if certain else SyncKind.FULL,
        trigger=SyncTrigger.GRANT,
        actor=actor,
        support=support,
    ).run
