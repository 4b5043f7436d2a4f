"""The grant flow: the admin-consent leg, then at once the identity leg (MSAL authorization-code flow), then
proof of access with an app-only token.

Each leg's `state` is single use; a callback finds the attempt by the state's hash, never by anything else in
the query string.
"""

import hashlib
import json
import re
import secrets
import uuid
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any, TypeGuard

from celery import shared_task
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.actors import user_of
from accounts.models import User
from audit.models import Action
from audit.services import Actor, record_event
from connection.credential import record_credential_accepted, record_credential_rejected_by
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
from directory.runs import fixed_sync_mode, sync_settings_for
from directory.selection import SelectionError
from grant.models import IN_FLIGHT_STEPS, GrantAttempt, GrantStep
from microsoft import errors, graph, identity
from organizations.models import Membership, Organization, Policy, ProtectedService, Role, ServiceStatus
from organizations.services import lock_organization

STATE_TTL = timedelta(minutes=10)


_STATE_SHAPE = re.compile(r"^[A-Za-z0-9_\-.~]{16,200}$")


class GrantRefused(Exception):
    """The grant cannot go on; `message` says what happened and `advice` what to do, for the admin."""

    def __init__(self, message: str, advice: str = "", *, code: str, organization_slug: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.advice = advice
        self.code = code
        self.organization_slug = organization_slug


class GrantRuleViolation(Exception):
    """A grant cannot start; the message explains the rule."""


class GrantInProgress(Exception):
    """Another attempt for the same service is under way."""

    def __init__(self, attempt: GrantAttempt) -> None:
        super().__init__(f"A grant of {attempt.service} is in progress.")
        self.attempt = attempt


class GrantOutcome(StrEnum):
    """Where a grant stands after the identity leg or a later access check."""

    WAITING = "waiting"
    BOUND = "bound"
    ENDED = "ended"


@dataclass(frozen=True)
class CallbackResult:
    attempt: GrantAttempt
    redirect_to: str | None = None  # Microsoft again: the identity leg, interactively


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def in_flight_attempt(service: ProtectedService) -> GrantAttempt | None:
    return (
        GrantAttempt.objects.filter(service=service, step__in=IN_FLIGHT_STEPS, expires_at__gt=timezone.now())
        .select_related("user")
        .first()
    )


def _is_admin(user: Actor, organization: Organization) -> TypeGuard[User]:
    """An administrator is a member, so a signed-in user."""
    member = user_of(user)
    return (
        member is not None
        and Membership.objects.filter(organization=organization, user=member, role=Role.ADMIN).exists()
    )


@transaction.atomic
def start_grant(
    *,
    service: ProtectedService,
    actor: Actor,
    session_key: str,
    redirect_uri: str,
    policy: Policy | None = None,
    sync_mode: str = SyncMode.ALL,
) -> str:
    """Open an attempt and return the admin-consent URL the browser goes to."""
    service = ProtectedService.objects.select_for_update().select_related("organization").get(pk=service.pk)
    organization = service.organization
    if not _is_admin(actor, organization):
        raise GrantRuleViolation("Only an administrator of the organization can grant access.")
    if not service.can_be_granted:
        raise GrantRuleViolation(f"{service.get_kind_display()} already has access ({service.get_status_display()}).")
    if policy is not None and policy.service_id != service.pk:
        raise GrantRuleViolation("Choose one of this service's policies.")
    is_recreate = service.status == ServiceStatus.ACCESS_TOKEN_INVALID
    fixed = fixed_sync_mode(organization)
    if fixed is not None:
        if not is_recreate and sync_mode != fixed:
            raise GrantRuleViolation(
                "Your organization's other Microsoft 365 services synchronize "
                f"{SyncMode(fixed).label.lower()}; every service uses the same option."
            )
        sync_mode = fixed
    if sync_mode not in SyncMode.values:
        raise GrantRuleViolation("Choose what to synchronize.")
    now = timezone.now()
    GrantAttempt.objects.filter(service=service, step__in=IN_FLIGHT_STEPS, expires_at__lte=now).update(
        step=GrantStep.EXPIRED, state_hash=None, finished_at=now
    )
    running = in_flight_attempt(service)
    if running is not None:
        raise GrantInProgress(running)
    state = secrets.token_urlsafe(32)
    attempt = GrantAttempt.objects.create(
        organization=organization,
        service=service,
        user=actor,
        session_key_hash=hash_secret(session_key),
        is_recreate=is_recreate,
        policy=policy,
        sync_mode=sync_mode,
        state_hash=hash_secret(state),
        expires_at=now + STATE_TTL,
    )
    record_event(
        Action.GRANT_STARTED,
        actor=actor,
        organization=organization,
        target=service.get_kind_display(),
        details={"attempt": str(attempt.public_id), "sync_mode": sync_mode, "recreate": is_recreate},
    )
    return identity.admin_consent_url(redirect_uri=redirect_uri, state=state)


@transaction.atomic
def cancel_grant(*, service: ProtectedService, actor: Actor) -> GrantAttempt | None:
    attempt = in_flight_attempt(service)
    if attempt is None:
        return None
    GrantAttempt.objects.filter(pk=attempt.pk).update(
        step=GrantStep.CANCELLED, state_hash=None, finished_at=timezone.now()
    )
    record_event(
        Action.GRANT_CANCELLED,
        actor=actor,
        organization=service.organization,
        target=service.get_kind_display(),
        details={"attempt": str(attempt.public_id), "started_by": attempt.user.email},
    )
    return attempt


def _reject(attempt: GrantAttempt | None, user: Actor, reason: str, message: str, advice: str = "") -> GrantRefused:
    """Record a refused callback (audited for a signed-in user) and build the exception to raise."""
    message = clean_text(message, 2000)[0]  # it may quote what Microsoft (or a forger) put in the query
    with transaction.atomic():
        if attempt is not None and attempt.step in IN_FLIGHT_STEPS:
            GrantAttempt.objects.filter(pk=attempt.pk).update(
                step=GrantStep.REFUSED, state_hash=None, error=message, finished_at=timezone.now()
            )
        if user is not None and user.is_authenticated:
            record_event(
                Action.GRANT_CALLBACK_REJECTED if attempt is None else Action.GRANT_REFUSED,
                actor=user,
                organization=attempt.organization if attempt else None,
                target=attempt.service.get_kind_display() if attempt else "",
                details={"reason": reason, **({"attempt": str(attempt.public_id)} if attempt else {})},
            )
    return GrantRefused(message, advice, code=reason, organization_slug=attempt.organization.slug if attempt else None)


def _take_attempt(params: Mapping[str, str], *, user: Actor, session_key: str, step: GrantStep) -> GrantAttempt:
    """The attempt a callback's `state` names, consumed; any mismatch refuses the callback."""
    state = params.get("state", "")
    if not isinstance(state, str) or not _STATE_SHAPE.match(state):
        raise _reject(
            None, user, "state_malformed", "This sign-in link is not valid.", "Start again from Service Status."
        )
    with transaction.atomic():
        attempt = (
            GrantAttempt.objects.select_for_update()
            .select_related("organization", "service", "user")
            .filter(state_hash=hash_secret(state))
            .first()
        )
        if attempt is not None:
            GrantAttempt.objects.filter(pk=attempt.pk).update(state_hash=None)
    if attempt is None:
        raise _reject(
            None,
            user,
            "state_unknown",
            "This sign-in link was already used or is not known.",
            "Start again from Service Status.",
        )
    if attempt.step != step:
        raise _reject(
            attempt,
            user,
            "state_wrong_step",
            "This sign-in link does not belong to this step.",
            "Start again from Service Status.",
        )
    if attempt.expires_at <= timezone.now():
        raise _reject(
            attempt,
            user,
            "state_expired",
            "The sign-in took longer than 10 minutes and expired.",
            "Start again from Service Status.",
        )
    if (
        user is None
        or not user.is_authenticated
        or attempt.user_id != user.pk
        or attempt.session_key_hash != hash_secret(session_key)
    ):
        raise _reject(
            attempt,
            user,
            "state_foreign",
            "This sign-in was started in another browser session.",
            "Start again from Service Status in this browser.",
        )
    if not _is_admin(user, attempt.organization):
        raise _reject(attempt, user, "not_admin", "You are no longer an administrator of this organization.")
    return attempt


def _microsoft_refusal(attempt: GrantAttempt, user: Actor, exc: errors.MicrosoftError) -> GrantRefused:
    """Explain what Microsoft answered at either leg, in the admin's terms."""
    if isinstance(exc, errors.ConsentDeclined):
        return _reject(
            attempt,
            user,
            "consent_declined",
            "Access was not granted: the administrator declined the permissions.",
            "To protect this service, grant access again and choose Accept at Microsoft.",
        )
    if isinstance(exc, errors.AppCredentialInvalid):
        return _credential_rejected(attempt, user, exc)
    if isinstance(exc, errors.InvalidState):
        return _reject(
            attempt, user, "state_mismatch", "This sign-in link is not valid.", "Start again from Service Status."
        )
    if isinstance(exc, errors.TransientError):
        return _reject(
            attempt,
            user,
            "microsoft_unavailable",
            "Microsoft's sign-in service did not answer, so the grant could not be completed.",
            "Try again in a few minutes.",
        )
    return _reject(
        attempt,
        user,
        "microsoft_error",
        f"Microsoft did not complete the sign-in: {exc.message[:300] or 'no details given'}",
        "Try again; if it keeps failing, contact the service team with the time of the attempt.",
    )


def _parse_guid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None


def _check_organization_binding(attempt: GrantAttempt, user: Actor, microsoft_tenant_id: uuid.UUID) -> None:
    organization = attempt.organization
    if organization.microsoft_tenant_id and organization.microsoft_tenant_id != microsoft_tenant_id:
        raise _reject(
            attempt,
            user,
            "other_microsoft_tenant",
            "You signed in to a different Microsoft 365 tenant than the one this organization is connected to.",
            "Sign in with a Global Administrator of the Microsoft 365 tenant your other services use.",
        )
    if Organization.objects.filter(microsoft_tenant_id=microsoft_tenant_id).exclude(pk=organization.pk).exists():
        raise _reject(
            attempt,
            user,
            "microsoft_tenant_taken",
            "This Microsoft 365 tenant is already registered by another organization.",
            "Each Microsoft 365 tenant can be connected to one organization only. Contact the service team "
            "if you need it moved.",
        )


def handle_consent_callback(
    params: Mapping[str, str], *, user: Actor, session_key: str, identity_redirect_uri: str
) -> CallbackResult:
    """Leg 1 came back: check it, then start leg 2 at once. Returns where the browser goes next."""
    attempt = _take_attempt(params, user=user, session_key=session_key, step=GrantStep.CONSENT)
    try:
        consent = identity.parse_admin_consent(params, expected_state=params["state"])
    except errors.MicrosoftError as exc:
        raise _microsoft_refusal(attempt, user, exc) from exc
    microsoft_tenant_id = _parse_guid(consent.tenant_id)
    if microsoft_tenant_id is None:
        raise _reject(
            attempt,
            user,
            "consent_malformed",
            "Microsoft's answer to the consent was not understood.",
            "Start again from Service Status.",
        )
    _check_organization_binding(attempt, user, microsoft_tenant_id)
    url = _start_identity_leg(attempt, user, microsoft_tenant_id, identity_redirect_uri, interactive=False)
    return CallbackResult(attempt=attempt, redirect_to=url)


def _start_identity_leg(
    attempt: GrantAttempt, user: Actor, microsoft_tenant_id: uuid.UUID, redirect_uri: str, *, interactive: bool
) -> str:
    try:
        flow = identity.start_identity_leg(
            tenant_id=str(microsoft_tenant_id), redirect_uri=redirect_uri, prompt=None if interactive else "none"
        )
    except errors.MicrosoftError as exc:
        raise _microsoft_refusal(attempt, user, exc) from exc
    with transaction.atomic():
        attempt.step = GrantStep.IDENTITY
        attempt.state_hash = hash_secret(flow["state"])
        attempt.auth_flow = json.dumps(flow)
        attempt.microsoft_tenant_id = microsoft_tenant_id
        attempt.interactive = interactive
        attempt.expires_at = timezone.now() + STATE_TTL
        attempt.save(
            update_fields=["step", "state_hash", "auth_flow", "microsoft_tenant_id", "interactive", "expires_at"]
        )
        if not interactive:
            record_event(
                Action.GRANT_CONSENTED,
                actor=user,
                organization=attempt.organization,
                target=attempt.service.get_kind_display(),
                details={"attempt": str(attempt.public_id), "microsoft_tenant_id": str(microsoft_tenant_id)},
            )
    return flow["auth_uri"]


def handle_identity_callback(
    params: Mapping[str, str], *, user: Actor, session_key: str, identity_redirect_uri: str
) -> CallbackResult:
    """Leg 2 came back: check who signed in, then prove access (or wait for Microsoft to allow it)."""
    attempt = _take_attempt(params, user=user, session_key=session_key, step=GrantStep.IDENTITY)
    assert attempt.microsoft_tenant_id is not None
    try:
        admin = identity.finish_identity_leg(
            json.loads(attempt.auth_flow), params, tenant_id=str(attempt.microsoft_tenant_id)
        )
    except errors.InteractionRequired as exc:
        if attempt.interactive:
            raise _microsoft_refusal(attempt, user, exc) from exc
        url = _start_identity_leg(attempt, user, attempt.microsoft_tenant_id, identity_redirect_uri, interactive=True)
        return CallbackResult(attempt=attempt, redirect_to=url)
    except errors.TenantMismatch as exc:
        raise _reject(
            attempt,
            user,
            "identity_organization_mismatch",
            "You signed in to a different Microsoft 365 tenant than the one you granted the permissions in.",
            "Sign in with the same Global Administrator account at both steps.",
        ) from exc
    except errors.MicrosoftError as exc:
        raise _microsoft_refusal(attempt, user, exc) from exc
    if admin.roles_in_token and not admin.is_global_admin:
        raise _not_global_admin(attempt, user, admin.username)
    with transaction.atomic():
        attempt.step = GrantStep.AWAITING_ACCESS
        attempt.admin_upn = admin.username
        attempt.admin_object_id = uuid.UUID(admin.object_id)
        attempt.admin_has_role_claims = admin.roles_in_token
        attempt.auth_flow = ""
        attempt.access_deadline = timezone.now() + timedelta(seconds=settings.GRANT_ACCESS_WAIT_SECONDS)
        attempt.save(
            update_fields=[
                "step",
                "admin_upn",
                "admin_object_id",
                "admin_has_role_claims",
                "auth_flow",
                "access_deadline",
            ]
        )
    check_grant_access(attempt_id=attempt.pk, user=user)
    return CallbackResult(attempt=attempt)


def _not_global_admin(attempt: GrantAttempt, user: Actor, username: str) -> GrantRefused:
    return _reject(
        attempt,
        user,
        "not_global_admin",
        f"{username} is not a Global Administrator of the Microsoft 365 tenant.",
        "Only a Global Administrator can grant access. Sign in with a Global Administrator account.",
    )


def _credential_rejected(attempt: GrantAttempt, user: Actor, exc: errors.AppCredentialInvalid) -> GrantRefused:
    record_credential_rejected_by(exc)
    return _reject(
        attempt,
        user,
        "app_credential_invalid",
        "Granting access is temporarily unavailable; the service team has been alerted.",
        "Nothing in your Microsoft 365 tenant needs to change. Please try again later.",
    )


def check_grant_access(*, attempt_id: int, user: Actor = None) -> GrantOutcome:
    """One try at proving access; while Microsoft is still activating the permissions, try again later.

    Refusals are recorded on the attempt; a caller that shows a page catches `GrantRefused`.
    """
    outcome = _verify_grant_access(attempt_id, user)
    if outcome == GrantOutcome.WAITING:
        transaction.on_commit(
            lambda: check_grant_access_later.apply_async((attempt_id,), countdown=settings.GRANT_ACCESS_RETRY_SECONDS)
        )
    return outcome


@shared_task(name="provisioning.check_grant_access")
def check_grant_access_later(attempt_id: int) -> None:
    """One more try at proving access after consent; requeues itself while Microsoft is still activating it."""
    with suppress(GrantRefused):  # recorded on the attempt, which the admin's page shows
        check_grant_access(attempt_id=attempt_id)


def _verify_grant_access(attempt_id: int, user: Actor) -> GrantOutcome:
    """Prove app-only access (and the Global Administrator role when the ID token had no role claims).

    Right after consent Microsoft may answer 401/403 for a minute or two: that is WAITING until the
    attempt's deadline, never a revoked consent.
    """
    attempt = GrantAttempt.objects.select_related("organization", "service", "user").get(pk=attempt_id)
    if attempt.step != GrantStep.AWAITING_ACCESS:
        bound = attempt.step in (GrantStep.CHOOSING_USERS, GrantStep.PROVISIONING)
        return GrantOutcome.BOUND if bound else GrantOutcome.ENDED
    actor = user or attempt.user
    assert attempt.microsoft_tenant_id is not None
    assert attempt.access_deadline is not None
    try:
        # Fresh tokens every try: a cached one from before the permissions were active would keep failing.
        client = graph.GraphClient(str(attempt.microsoft_tenant_id), fresh_token=True)
        details = client.tenant_details()
        if not attempt.admin_has_role_claims:
            members = client.directory_role_member_ids(identity.GLOBAL_ADMINISTRATOR)
            if str(attempt.admin_object_id) not in members:
                raise _not_global_admin(attempt, actor, attempt.admin_upn)
    except errors.AppCredentialInvalid as exc:
        raise _credential_rejected(attempt, actor, exc) from exc
    except (errors.ConsentRevoked, errors.Throttled, errors.TransientError) as exc:
        if timezone.now() < attempt.access_deadline:
            return GrantOutcome.WAITING
        raise _reject(
            attempt,
            actor,
            "access_not_activated",
            "Microsoft did not activate the permissions in time, so access could not be verified.",
            "This sometimes takes Microsoft a few minutes. Wait a little, then grant access again.",
        ) from exc
    except errors.MicrosoftError as exc:
        raise _reject(
            attempt,
            actor,
            "verification_failed",
            f"Access could not be verified: {exc}",
            "Try again; if it keeps failing, contact the service team.",
        ) from exc
    record_credential_accepted()
    _bind_service(attempt, actor, details.id)
    return GrantOutcome.BOUND


def _bind_service(attempt: GrantAttempt, actor: Actor, microsoft_tenant_details_id: str) -> None:
    """Bind the Microsoft tenant, create the service account and start synchronizing, in one transaction."""
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
                    target=str(microsoft_tenant_id),
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
        raise _reject(attempt, actor, "bind_refused", message) from exc


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
def retry_provisioning(*, service: ProtectedService, actor: Actor) -> SyncRun:
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
    ).run
