"""Changes to the simulated world, shared by the seed command, the admin, the control API and the endpoints."""

import datetime as dt
import random
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from m365sim import directory, workloads
from m365sim.models import (
    AccessPolicy,
    Application,
    ClientSecret,
    DriveState,
    Group,
    MailboxState,
    MemberObject,
    Membership,
    RequestCount,
    ServicePrincipal,
    Site,
    Tenant,
    User,
)
from m365sim.routers import ALIAS

FAULT_FIELDS = (
    "throttle_next",
    "throttle_fraction",
    "throttle_status",
    "throttle_retry_after",
    "latency_ms",
    "token_failures_next",
    "consent_propagation_seconds",
    "token_propagation_seconds",
    "graph_propagation_seconds",
    "users_delta_page_cap",
    "members_delta_page_cap",
    "delta_replay_next",
    "delta_reset_next",
    "decline_as_access_denied",
    "batch_throttle_next",
    "access_policy_delay_seconds",
    "mailbox_provisioning_seconds",
)


def next_version(tenant: Tenant) -> int:
    """The tenant's next change number; call inside a transaction on the simulator's database."""
    Tenant.objects.filter(pk=tenant.pk).update(change_seq=F("change_seq") + 1)
    tenant.change_seq = Tenant.objects.values_list("change_seq", flat=True).get(pk=tenant.pk)
    return tenant.change_seq


# Directory changes (the delta rounds report them).

# Each model field a change can touch, as Graph names the property: delta's Prefer: return=minimal sends only the
# properties changed since the last round.
GRAPH_PROPERTIES = {
    "display_name": "displayName",
    "given_name": "givenName",
    "surname": "surname",
    "job_title": "jobTitle",
    "mail": "mail",
    "user_principal_name": "userPrincipalName",
    "account_enabled": "accountEnabled",
    "assigned_licenses": "assignedLicenses",
    "description": "description",
    "mail_nickname": "mailNickname",
    "mail_enabled": "mailEnabled",
    "security_enabled": "securityEnabled",
    "group_types": "groupTypes",
    "is_team": "resourceProvisioningOptions",
}


def _changed(version: int, fields: Any) -> dict[str, int]:
    return {GRAPH_PROPERTIES[name]: version for name in fields if name in GRAPH_PROPERTIES}


@transaction.atomic(using=ALIAS)
def add_user(tenant: Tenant, *, user_principal_name: str, display_name: str, account_enabled: bool = True) -> User:
    version = next_version(tenant)
    return User.objects.create(
        tenant=tenant,
        user_principal_name=user_principal_name,
        display_name=display_name,
        mail=user_principal_name,
        account_enabled=account_enabled,
        version=version,
        property_versions=_changed(version, GRAPH_PROPERTIES),
    )


@transaction.atomic(using=ALIAS)
def update_user(user: User, **fields: Any) -> User:
    for name, value in fields.items():
        setattr(user, name, value)
    user.version = next_version(user.tenant)
    user.property_versions = {**user.property_versions, **_changed(user.version, fields)}
    user.save()
    return user


@transaction.atomic(using=ALIAS)
def delete_user(user: User, *, permanent: bool = False) -> None:
    version = next_version(user.tenant)
    for membership in Membership.objects.filter(member_user=user, removed=False).select_related("group"):
        _remove_membership(membership, version)
    user.deleted_at = timezone.now()
    user.hard_deleted = permanent
    user.version = version
    user.save()


@transaction.atomic(using=ALIAS)
def add_group(tenant: Tenant, *, display_name: str, mail_enabled: bool = False, unified: bool = False) -> Group:
    nickname = "".join(ch for ch in display_name.lower() if ch.isalnum())[:64]
    domain = tenant.domains.get(is_initial=True).name
    version = next_version(tenant)
    return Group.objects.create(
        tenant=tenant,
        display_name=display_name,
        mail_nickname=nickname,
        mail=f"{nickname}@{domain}" if mail_enabled else "",
        mail_enabled=mail_enabled,
        security_enabled=not unified,
        group_types=["Unified"] if unified else [],
        version=version,
        property_versions=_changed(version, GRAPH_PROPERTIES),
    )


@transaction.atomic(using=ALIAS)
def update_group(group: Group, **fields: Any) -> Group:
    for name, value in fields.items():
        setattr(group, name, value)
    group.version = next_version(group.tenant)
    group.property_versions = {**group.property_versions, **_changed(group.version, fields)}
    group.save()
    return group


@transaction.atomic(using=ALIAS)
def delete_group(group: Group, *, permanent: bool = False) -> None:
    version = next_version(group.tenant)
    for membership in Membership.objects.filter(member_group=group, removed=False).select_related("group"):
        _remove_membership(membership, version)
    group.deleted_at = timezone.now()
    group.hard_deleted = permanent
    group.version = version
    group.save()


@transaction.atomic(using=ALIAS)
def add_member_object(
    tenant: Tenant,
    *,
    kind: str,
    display_name: str,
    mail: str = "",
    device_id: uuid.UUID | None = None,
    app_id: uuid.UUID | None = None,
) -> MemberObject:
    """An organizational contact (with its mail), a device (its deviceId) or a service principal (its appId)."""
    if kind not in MemberObject.Kind.values:
        raise ValueError(f"kind must be one of: {', '.join(MemberObject.Kind.values)}.")
    return MemberObject.objects.create(
        tenant=tenant,
        kind=kind,
        display_name=display_name,
        mail=mail if kind == MemberObject.Kind.CONTACT else "",
        device_id=(device_id or uuid.uuid4()) if kind == MemberObject.Kind.DEVICE else None,
        app_id=(app_id or uuid.uuid4()) if kind == MemberObject.Kind.SERVICE_PRINCIPAL else None,
        version=next_version(tenant),
    )


@transaction.atomic(using=ALIAS)
def delete_member_object(obj: MemberObject, *, permanent: bool = False) -> None:
    version = next_version(obj.tenant)
    for membership in Membership.objects.filter(member_object=obj, removed=False):
        _remove_membership(membership, version)
    obj.deleted_at = timezone.now()
    obj.hard_deleted = permanent
    obj.version = version
    obj.save()


Member = User | Group | MemberObject


def _member_key(member: Member) -> dict[str, Any]:
    if isinstance(member, User):
        return {"member_user": member}
    if isinstance(member, Group):
        return {"member_group": member}
    return {"member_object": member}


@transaction.atomic(using=ALIAS)
def add_member(group: Group, member: Member) -> Membership:
    version = next_version(group.tenant)
    membership, _ = Membership.objects.update_or_create(
        defaults={"removed": False, "version": version}, group=group, **_member_key(member)
    )
    Group.objects.filter(pk=group.pk).update(version=version)
    return membership


@transaction.atomic(using=ALIAS)
def remove_member(group: Group, member: Member) -> None:
    membership = Membership.objects.filter(group=group, removed=False, **_member_key(member)).first()
    if membership is not None:
        _remove_membership(membership, next_version(group.tenant))


def _remove_membership(membership: Membership, version: int) -> None:
    membership.removed = True
    membership.version = version
    membership.save(update_fields=["removed", "version"])
    Group.objects.filter(pk=membership.group_id).update(version=version)


# Mailboxes, drives, teams and sites.


def set_mailbox(user: User, state: str, *, ready_in_seconds: float | None = None) -> User:
    """A mailbox state; "pending" with ready_in_seconds appears then, without it stays pending until changed."""
    if state not in MailboxState.values:
        raise ValueError(f"state must be one of: {', '.join(MailboxState.values)}.")
    user.mailbox = state
    user.mailbox_ready_at = (
        timezone.now() + dt.timedelta(seconds=ready_in_seconds) if ready_in_seconds is not None else None
    )
    user.save(update_fields=["mailbox", "mailbox_ready_at"])
    return user


def set_drive(user: User, state: str) -> User:
    if state not in DriveState.values:
        raise ValueError(f"state must be one of: {', '.join(DriveState.values)}.")
    user.drive = state
    user.save(update_fields=["drive"])
    return user


@transaction.atomic(using=ALIAS)
def set_licensed(user: User, licensed: bool) -> User:
    """Assigns or removes the E3 licence (a directory change). A newly licensed user's mailbox appears after the
    tenant's mailbox_provisioning_seconds."""
    was_licensed = bool(user.assigned_licenses)
    update_user(user, assigned_licenses=[directory.SKU_ENTERPRISEPACK] if licensed else [])
    delay = user.tenant.mailbox_provisioning_seconds
    if licensed and not was_licensed and delay:
        user.mailbox_ready_at = timezone.now() + dt.timedelta(seconds=delay)
        user.save(update_fields=["mailbox_ready_at"])
    return user


def set_team(group: Group, team: bool) -> Group:
    """Only a Microsoft 365 group can be provisioned as a team. Create a team from a group:
    https://learn.microsoft.com/graph/api/team-put-teams"""
    if team and "Unified" not in group.group_types:
        raise ValueError("Only a Microsoft 365 group (groupTypes Unified) can be a team.")
    return update_group(group, is_team=team)


def site_id(tenant: Tenant, key: str) -> str:
    """Graph's site id: "{hostname},{site collection id},{web id}"; https://learn.microsoft.com/graph/api/resources/site"""
    host = f"{tenant.slug}.sharepoint.com"
    return f"{host},{uuid.uuid5(tenant.id, f'site:{key}')},{uuid.uuid5(tenant.id, f'web:{key}')}"


def add_site(tenant: Tenant, *, display_name: str, name: str = "", group: Group | None = None) -> Site:
    name = name or "".join(ch for ch in display_name if ch.isalnum()) or "site"
    return Site.objects.create(
        id=site_id(tenant, name.lower()),
        tenant=tenant,
        name=name,
        display_name=display_name,
        web_url=f"https://{tenant.slug}.sharepoint.com/sites/{name}",
        group=group,
    )


def delete_site(site: Site) -> None:
    site.delete()


def apply_access_policy(
    tenant: Tenant,
    group: Group,
    *,
    access_right: str,
    app_id: str,
    delay_seconds: float | None = None,
    description: str = "",
) -> AccessPolicy:
    """New-ApplicationAccessPolicy, taking effect after the delay (the tenant's when not given): "Changes to
    application access policies can take longer than 1 hour to take effect in Microsoft Graph REST API calls".
    https://learn.microsoft.com/graph/auth-limit-mailbox-access"""
    if access_right not in AccessPolicy.Right.values:
        raise ValueError(f"access_right must be one of: {', '.join(AccessPolicy.Right.values)}.")
    if not workloads.is_policy_scope(group):
        raise ValueError("An application access policy is scoped to a mail-enabled security group.")
    delay = tenant.access_policy_delay_seconds if delay_seconds is None else delay_seconds
    return AccessPolicy.objects.create(
        tenant=tenant,
        app_id=uuid.UUID(str(app_id)),
        group=group,
        access_right=access_right,
        description=description,
        effective_at=timezone.now() + dt.timedelta(seconds=delay),
    )


def lift_access_policy(policy: AccessPolicy, *, delay_seconds: float | None = None) -> AccessPolicy:
    """Remove-ApplicationAccessPolicy, taking effect after the delay as applying does."""
    delay = policy.tenant.access_policy_delay_seconds if delay_seconds is None else delay_seconds
    policy.lifted_at = timezone.now() + dt.timedelta(seconds=delay)
    policy.save(update_fields=["lifted_at"])
    return policy


# Consent and the service principal.


@transaction.atomic(using=ALIAS)
def grant_admin_consent(tenant: Tenant, application: Application, *, user: User) -> ServicePrincipal:
    sp, _ = ServicePrincipal.objects.get_or_create(tenant=tenant, application=application)
    sp.granted_roles = list(application.application_permissions)
    sp.admin_consented_at = timezone.now()
    sp.consented_by = user
    sp.save()
    return sp


@transaction.atomic(using=ALIAS)
def grant_user_consent(tenant: Tenant, application: Application, *, user: User) -> ServicePrincipal:
    sp, _ = ServicePrincipal.objects.get_or_create(tenant=tenant, application=application)
    sp.consented_users.add(user)
    return sp


def revoke_consent(sp: ServicePrincipal) -> None:
    """What deleting the app role assignments and permission grants in Entra does: the SP stays, without roles."""
    sp.granted_roles = []
    sp.admin_consented_at = None
    sp.consented_by = None
    sp.save()
    sp.consented_users.clear()


def set_service_principal_enabled(sp: ServicePrincipal, enabled: bool) -> None:
    sp.account_enabled = enabled
    sp.save(update_fields=["account_enabled"])


def delete_service_principal(sp: ServicePrincipal) -> None:
    """What deleting the enterprise application does: token requests then fail with AADSTS7000229."""
    sp.delete()


def expire_secrets(application: Application, *, at: dt.datetime | None = None) -> None:
    application.secrets.update(expires_at=at or timezone.now())


def set_secret(application: Application, raw_secret: str, *, expires_at: dt.datetime) -> ClientSecret:
    secret = ClientSecret(application=application, expires_at=expires_at)
    secret.set_secret(raw_secret)
    secret.save()
    return secret


# Faults.


def set_faults(tenant: Tenant, **faults: Any) -> Tenant:
    unknown = set(faults) - set(FAULT_FIELDS)
    if unknown:
        raise ValueError(f"Unknown faults: {', '.join(sorted(unknown))}")
    Tenant.objects.filter(pk=tenant.pk).update(**faults)
    tenant.refresh_from_db()
    return tenant


def reset_faults(tenant: Tenant) -> Tenant:
    defaults = {name: Tenant._meta.get_field(name).get_default() for name in FAULT_FIELDS}  # type: ignore[union-attr]
    return set_faults(tenant, **defaults)


def expire_delta_tokens(tenant: Tenant) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(delta_tokens_valid_after=timezone.now())


def expire_page_tokens(tenant: Tenant) -> None:
    """Every $skiptoken issued until now answers Directory_ExpiredPageToken, whatever its age."""
    Tenant.objects.filter(pk=tenant.pk).update(page_tokens_valid_after=timezone.now())


def take_delta_replay(tenant: Tenant) -> bool:
    """Whether this delta page repeats changes already served (one of the next N)."""
    return _take(tenant, "delta_replay_next")


def take_delta_reset(tenant: Tenant) -> bool:
    """Whether this delta request answers 410 Gone (one of the next N)."""
    return _take(tenant, "delta_reset_next")


def _take(tenant: Tenant, counter: str) -> bool:
    return bool(Tenant.objects.filter(pk=tenant.pk, **{f"{counter}__gt": 0}).update(**{counter: F(counter) - 1}))


def take_throttle(tenant: Tenant) -> bool:
    """Whether this Graph request is throttled: one of the next N, or by the configured fraction. `tenant` is read
    at the request's start: without the switch on, no write."""
    if tenant.throttle_next and _take(tenant, "throttle_next"):
        return True
    return tenant.throttle_fraction > 0 and random.random() < tenant.throttle_fraction  # noqa: S311 (not security)


def take_batch_throttle(tenant: Tenant) -> bool:
    """Whether this request inside a $batch answers 429 (one of the next N). `tenant` is read at the request's
    start: without the switch on, no write."""
    return bool(tenant.batch_throttle_next) and _take(tenant, "batch_throttle_next")


def take_token_failure(tenant: Tenant) -> bool:
    return bool(
        Tenant.objects.filter(pk=tenant.pk, token_failures_next__gt=0).update(
            token_failures_next=F("token_failures_next") - 1
        )
    )


# Inside a $batch the counts of its requests are kept here and written once at its end (`counted_together`):
# one write per endpoint instead of one commit per request.
_deferred_counts: ContextVar[Counter[tuple[uuid.UUID, str]] | None] = ContextVar(
    "m365sim_deferred_counts", default=None
)


def count_request(tenant: Tenant, endpoint: str, times: int = 1) -> None:
    deferred = _deferred_counts.get()
    if deferred is not None:
        deferred[tenant.pk, endpoint] += times
        return
    if RequestCount.objects.filter(tenant=tenant, endpoint=endpoint).update(count=F("count") + times):
        return
    try:
        with transaction.atomic(using=ALIAS):
            RequestCount.objects.create(tenant=tenant, endpoint=endpoint, count=times)
    except IntegrityError:  # another thread created it first
        RequestCount.objects.filter(tenant=tenant, endpoint=endpoint).update(count=F("count") + times)


@contextmanager
def counted_together() -> Iterator[None]:
    """The requests counted inside are written at the end, one write per tenant and endpoint."""
    deferred: Counter[tuple[uuid.UUID, str]] = Counter()
    token = _deferred_counts.set(deferred)
    try:
        yield
    finally:
        _deferred_counts.reset(token)
        for (tenant_id, endpoint), times in deferred.items():
            count_request(Tenant(pk=tenant_id), endpoint, times)


def request_counts(tenant: Tenant) -> dict[str, int]:
    return dict(RequestCount.objects.filter(tenant=tenant).values_list("endpoint", "count"))


def has_consent_granting_role(user: User) -> bool:
    return bool(user.role_ids & directory.CONSENT_GRANTING_ROLES)
