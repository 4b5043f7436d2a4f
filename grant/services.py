"""The grant flow: the admin-consent leg, then at once the identity leg (MSAL authorization-code flow), then
proof of access with an app-only token.

Each leg's `state` is single use; a callback finds the attempt by the state's hash, never by anything else in
the query string."""

import json
import re
import secrets
import uuid
from collections.abc import Mapping
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from audit.models import Action
from audit.services import Actor, SupportAction, record_event
from connection.models import ServiceAccount
from directory.models import (
    SyncMode,
)
from directory.runs import fixed_sync_mode
from grant.access import check_grant_access
from grant.models import IN_FLIGHT_STEPS, GrantAttempt, GrantStep
from grant.refusals import (
    WRONG_ACCOUNT_REASONS,
    CallbackResult,
    GrantInProgress,
    GrantRuleViolation,
    hash_secret,
    is_admin,
    microsoft_refusal,
    not_global_admin,
    reject,
)
from microsoft import errors, identity
from organizations.models import Organization, Policy, ProtectedService, ServiceStatus

STATE_TTL = timedelta(minutes=10)
# The legs at Microsoft, which the browser may leave without coming back.
SIGN_IN_STEPS = (GrantStep.CONSENT, GrantStep.IDENTITY)
BOUND_STEPS = (GrantStep.CHOOSING_USERS, GrantStep.PROVISIONING)


_STATE_SHAPE = re.compile(r"^[A-Za-z0-9_\-.~]{16,200}$")


def in_flight(attempts: QuerySet[GrantAttempt]) -> QuerySet[GrantAttempt]:
    """The attempts still going on: in flight and not expired (an expired one ends when the next grant starts)."""
    return attempts.filter(step__in=IN_FLIGHT_STEPS, expires_at__gt=timezone.now()).select_related("user")


def in_flight_attempt(service: ProtectedService) -> GrantAttempt | None:
    return in_flight(GrantAttempt.objects.filter(service=service)).first()


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
    """Open an attempt and return the admin-consent URL the browser goes to.

    The admin's own attempt of this browser session that went to Microsoft and never came back (the tab closed,
    the back button) is replaced rather than left to block the new one.
    """
    service = ProtectedService.objects.select_for_update().select_related("organization").get(pk=service.pk)
    organization = service.organization
    if not is_admin(actor, organization):
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
        if not (can_resume(running, actor, session_key) and running.step in SIGN_IN_STEPS):
            raise GrantInProgress(running)
        _end_attempt(running, actor, GrantStep.CANCELLED, replaced=True)
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
    return _admin_consent_url(organization, redirect_uri, state)


def _admin_consent_url(organization: Organization, redirect_uri: str, state: str) -> str:
    # An organization already connected consents in its own tenant: Microsoft refuses an account of another one.
    bound = str(organization.microsoft_tenant_id) if organization.microsoft_tenant_id else None
    return identity.admin_consent_url(redirect_uri=redirect_uri, state=state, tenant_id=bound)


def can_resume(attempt: GrantAttempt, user: Actor, session_key: str) -> bool:
    """Only the admin who started an attempt, in the browser session it started in, can take it further: its
    callbacks are refused anywhere else."""
    return (
        user is not None
        and user.is_authenticated
        and attempt.user_id == user.pk
        and attempt.session_key_hash == hash_secret(session_key)
    )


@transaction.atomic
def resume_grant(
    *, service: ProtectedService, actor: Actor, session_key: str, consent_redirect_uri: str, identity_redirect_uri: str
) -> str:
    """Where the admin's attempt in progress goes on: Microsoft again, with a new state for the leg it was at (the old
    link stops working). An attempt past both legs raises GrantInProgress: its own page shows the wait.
    """
    attempt = in_flight_attempt(service)
    if attempt is None:
        raise GrantRuleViolation(f"No grant of {service.get_kind_display()} is in progress any more.")
    attempt = (
        GrantAttempt.objects.select_for_update().select_related("organization", "service", "user").get(pk=attempt.pk)
    )
    if not is_admin(actor, attempt.organization):
        raise GrantRuleViolation("Only an administrator of the organization can grant access.")
    if not can_resume(attempt, actor, session_key):
        raise GrantRuleViolation(
            f"This grant was started by {attempt.user.email} in another browser session: only there can it go on. "
            "Cancel it to start again."
        )
    if attempt.step == GrantStep.CONSENT:
        state = secrets.token_urlsafe(32)
        attempt.state_hash = hash_secret(state)
        attempt.expires_at = timezone.now() + STATE_TTL
        attempt.save(update_fields=["state_hash", "expires_at"])
        return _admin_consent_url(attempt.organization, consent_redirect_uri, state)
    if attempt.step == GrantStep.IDENTITY:
        assert attempt.microsoft_tenant_id is not None
        return _start_identity_leg(attempt, actor, attempt.microsoft_tenant_id, identity_redirect_uri, prompt=None)
    raise GrantInProgress(attempt)


@transaction.atomic
def cancel_grant(
    *, service: ProtectedService, actor: Actor, support: SupportAction | None = None
) -> GrantAttempt | None:
    """Cancel the attempt in progress (`support`: as support staff did it, one event, the support action's)."""
    attempt = in_flight_attempt(service)
    if attempt is None:
        return None
    _end_attempt(attempt, actor, GrantStep.CANCELLED, support=support)
    return attempt


def _end_attempt(
    attempt: GrantAttempt,
    actor: Actor,
    step: GrantStep,
    *,
    replaced: bool = False,
    support: SupportAction | None = None,
) -> None:
    GrantAttempt.objects.filter(pk=attempt.pk).update(step=step, state_hash=None, finished_at=timezone.now())
    details: dict[str, object] = {"attempt": str(attempt.public_id)}
    if support is None:
        details["started_by"] = attempt.user.email
    if replaced:
        details["replaced_by_a_new_attempt"] = True
    record_event(
        Action.GRANT_CANCELLED,
        actor=actor,
        organization=attempt.organization,
        target=attempt.service.get_kind_display(),
        details=details,
        support=support,
    )


def previous_choices(service: ProtectedService, user: Actor) -> dict[str, object]:
    """What the admin chose at their last attempt of this service that did not grant it (or that is still under
    way): the form starts from there instead of the defaults, the irreversible All users among them."""
    if user is None or not user.is_authenticated:
        return {}
    attempt = (
        GrantAttempt.objects.filter(service=service, user_id=user.pk)
        .select_related("policy")
        .order_by("-created_at", "-pk")
        .first()
    )
    if attempt is None or attempt.step in BOUND_STEPS:
        return {}
    return {"policy": attempt.policy, "sync_mode": attempt.sync_mode}


def _take_attempt(params: Mapping[str, str], *, user: Actor, session_key: str, step: GrantStep) -> GrantAttempt:
    """The attempt a callback's `state` names, consumed; any mismatch refuses the callback."""
    state = params.get("state", "")
    if not isinstance(state, str) or not _STATE_SHAPE.match(state):
        raise reject(
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
        raise reject(
            None,
            user,
            "state_unknown",
            "This sign-in link was already used or is not known.",
            "Start again from Service Status.",
        )
    if attempt.step != step:
        raise reject(
            attempt,
            user,
            "state_wrong_step",
            "This sign-in link does not belong to this step.",
            "Start again from Service Status.",
        )
    if attempt.expires_at <= timezone.now():
        raise reject(
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
        raise reject(
            attempt,
            user,
            "state_foreign",
            "This sign-in was started in another browser session.",
            "Start again from Service Status in this browser.",
        )
    if not is_admin(user, attempt.organization):
        raise reject(attempt, user, "not_admin", "You are no longer an administrator of this organization.")
    return attempt


def _parse_guid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None


def _check_same_microsoft_tenant(attempt: GrantAttempt, user: Actor, microsoft_tenant_id: uuid.UUID) -> None:
    organization = attempt.organization
    if organization.microsoft_tenant_id and organization.microsoft_tenant_id != microsoft_tenant_id:
        raise reject(
            attempt,
            user,
            "other_microsoft_tenant",
            "You signed in to a different Microsoft 365 tenant than the one this organization is connected to.",
            "Sign in with a Global Administrator of the Microsoft 365 tenant your other services use.",
        )


def _check_microsoft_tenant_free(attempt: GrantAttempt, user: Actor, microsoft_tenant_id: uuid.UUID) -> None:
    """Only once the identity leg proved who signed in, and to which tenant: before that the tenant is merely what
    the consent callback's query says, and the answer would tell anyone which tenants other customers use."""
    taken = Organization.objects.filter(microsoft_tenant_id=microsoft_tenant_id).exclude(pk=attempt.organization_id)
    if taken.exists():
        raise reject(
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
        raise microsoft_refusal(attempt, user, exc) from exc
    microsoft_tenant_id = _parse_guid(consent.tenant_id)
    if microsoft_tenant_id is None:
        raise reject(
            attempt,
            user,
            "consent_malformed",
            "Microsoft's answer to the consent was not understood.",
            "Start again from Service Status.",
        )
    _check_same_microsoft_tenant(attempt, user, microsoft_tenant_id)
    # Silently as the account that just consented, unless the last attempt was refused for the account that signed
    # in: then Microsoft's account picker (the admin-consent endpoint has none).
    choice = _account_choice(attempt)
    url = _start_identity_leg(
        attempt,
        user,
        microsoft_tenant_id,
        identity_redirect_uri,
        prompt="select_account" if choice is not None else "none",
        login_hint=choice or None,
        just_consented=True,
    )
    return CallbackResult(attempt=attempt, redirect_to=url)


def _account_choice(attempt: GrantAttempt) -> str | None:
    """After a refusal for the account that signed in, the next attempt of the same admin asks Microsoft for an
    account choice: None when it needn't, else the account to suggest ("" when none is known)."""
    previous = (
        GrantAttempt.objects.filter(organization=attempt.organization, user=attempt.user, pk__lt=attempt.pk)
        .order_by("-pk")
        .first()
    )
    if previous is None or previous.step != GrantStep.REFUSED or previous.refusal_code not in WRONG_ACCOUNT_REASONS:
        return None
    # The account that connected the organization's other services is one Microsoft accepted.
    known = (
        ServiceAccount.objects.filter(organization=attempt.organization)
        .order_by("-granted_at")
        .values_list("authorized_account", flat=True)
        .first()
    )
    return known or ""


def _start_identity_leg(
    attempt: GrantAttempt,
    user: Actor,
    microsoft_tenant_id: uuid.UUID,
    redirect_uri: str,
    *,
    prompt: str | None,
    login_hint: str | None = None,
    just_consented: bool = False,
) -> str:
    try:
        flow = identity.start_identity_leg(
            tenant_id=str(microsoft_tenant_id), redirect_uri=redirect_uri, prompt=prompt, login_hint=login_hint
        )
    except errors.MicrosoftError as exc:
        raise microsoft_refusal(attempt, user, exc) from exc
    with transaction.atomic():
        attempt.step = GrantStep.IDENTITY
        attempt.state_hash = hash_secret(flow["state"])
        attempt.auth_flow = json.dumps(flow)
        attempt.microsoft_tenant_id = microsoft_tenant_id
        attempt.interactive = prompt != "none"
        attempt.expires_at = timezone.now() + STATE_TTL
        attempt.save(
            update_fields=["step", "state_hash", "auth_flow", "microsoft_tenant_id", "interactive", "expires_at"]
        )
        if just_consented:
            record_event(
                Action.GRANT_CONSENTED,
                actor=user,
                organization=attempt.organization,
                target=attempt.service.get_kind_display(),
                details={
                    "attempt": str(attempt.public_id),
                    "microsoft_tenant_id": str(microsoft_tenant_id),
                    "account_choice": prompt == "select_account",
                },
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
            raise microsoft_refusal(attempt, user, exc) from exc
        url = _start_identity_leg(attempt, user, attempt.microsoft_tenant_id, identity_redirect_uri, prompt=None)
        return CallbackResult(attempt=attempt, redirect_to=url)
    except errors.TenantMismatch as exc:
        raise reject(
            attempt,
            user,
            "identity_organization_mismatch",
            "You signed in to a different Microsoft 365 tenant than the one you granted the permissions in.",
            "Sign in with the same Global Administrator account at both steps.",
        ) from exc
    except errors.MicrosoftError as exc:
        raise microsoft_refusal(attempt, user, exc) from exc
    _check_microsoft_tenant_free(attempt, user, attempt.microsoft_tenant_id)
    if admin.roles_in_token and not admin.is_global_admin:
        raise not_global_admin(attempt, user, admin.username)
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
