"""Writes to organizations, memberships, invitations and policies. Each runs in a transaction and
records its audit event; views call these and nothing else to change state."""

from datetime import timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from accounts.actors import user_of
from accounts.models import User
from audit.models import Action
from audit.services import Actor, record_event
from organizations.invitations import new_token
from organizations.models import (
    Invitation,
    Membership,
    Organization,
    Policy,
    PolicyType,
    ProtectedService,
    Region,
    Role,
    ServiceKind,
    ServiceStatus,
)

DEFAULT_POLICIES = (
    ("Default ATP policy", PolicyType.ATP, 99999),
    ("Default ATP policy (monitor only)", PolicyType.ATP, 99998),
    ("Default DLP policy", PolicyType.DLP, 99999),
)


def lock_organization(pk: int) -> Organization:
    """The organization's row lock: it serializes grants, syncs and connection changes of one organization.

    FOR NO KEY UPDATE excludes the other holders but not the foreign-key checks of rows being inserted for the
    organization (audit events, directory rows), which a plain FOR UPDATE would turn into deadlocks.
    """
    return Organization.objects.select_for_update(no_key=True).get(pk=pk)


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "organization"
    slug, n = base, 2
    while Organization.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


@transaction.atomic
def create_organization(*, name: str, actor: Actor, slug: str = "", region: str = Region.NORTH_AMERICA) -> Organization:
    name = name.strip()
    if not name:
        raise ValidationError("An organization needs a name.")
    if slug and Organization.objects.filter(slug=slug).exists():
        raise ValidationError(f"The slug {slug!r} is already taken.")
    organization = Organization.objects.create(name=name, slug=slug or _unique_slug(name), region=region)
    set_up_new_organization(organization=organization, actor=actor)
    return organization


@transaction.atomic
def set_up_new_organization(*, organization: Organization, actor: Actor) -> None:
    """Give a just-saved organization one protected service per catalog entry and the default policies."""
    services = ProtectedService.objects.bulk_create(
        ProtectedService(organization=organization, kind=kind) for kind in ServiceKind.values
    )
    Policy.objects.bulk_create(
        Policy(
            organization=organization, service=service, name=name, policy_type=ptype, priority=priority, is_default=True
        )
        for service in services
        for name, ptype, priority in DEFAULT_POLICIES
    )
    record_event(Action.ORGANIZATION_CREATED, actor=actor, organization=organization, target=organization.name)


@transaction.atomic
def add_member(*, organization: Organization, user: User, role: str, actor: Actor) -> Membership:
    """Make a user a member directly (support staff and `create_organization`); customers use invitations."""
    membership, created = Membership.objects.get_or_create(
        organization=organization, user=user, defaults={"role": role}
    )
    if created:
        record_event(
            Action.MEMBER_JOINED, actor=actor, organization=organization, target=user.email, details={"role": role}
        )
    return membership


@transaction.atomic
def invite_member(*, organization: Organization, email: str, role: str, actor: Actor) -> Invitation:
    """Invite by email; an open invitation for the same address is replaced by the new one."""
    email = get_user_model().objects.normalize_email(email).lower()
    if role not in Role.values:
        raise ValidationError("Choose a role.")
    if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
        raise ValidationError(f"{email} is already a member of {organization.name}.")
    now = timezone.now()
    Invitation.objects.filter(
        organization=organization, email=email, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=now)
    token, token_hash = new_token()
    invitation = Invitation.objects.create(
        organization=organization,
        email=email,
        role=role,
        token_hash=token_hash,
        invited_by=user_of(actor),
        expires_at=now + timedelta(days=settings.INVITATION_TTL_DAYS),
    )
    record_event(Action.MEMBER_INVITED, actor=actor, organization=organization, target=email, details={"role": role})
    link = settings.PORTAL_BASE_URL + reverse("invitation", kwargs={"token": token})
    context = {"invitation": invitation, "link": link, "ttl_days": settings.INVITATION_TTL_DAYS}
    transaction.on_commit(
        lambda: send_mail(
            subject=f"You are invited to {organization.name} on casportal",
            message=render_to_string("organizations/email/invitation.txt", context),
            from_email=None,
            recipient_list=[email],
        )
    )
    return invitation


@transaction.atomic
def revoke_invitation(*, invitation: Invitation, actor: Actor) -> None:
    if invitation.accepted_at or invitation.revoked_at:
        raise ValidationError("This invitation is no longer open.")
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    record_event(Action.INVITATION_REVOKED, actor=actor, organization=invitation.organization, target=invitation.email)


@transaction.atomic
def release_unverified_address(*, invitation: Invitation) -> int:
    """The invitee proves they receive mail at the invited address: the link was sent there. Another account's
    unverified claim on that address (a secondary address anyone may add to their own account) is removed, so it
    cannot stop the invitee signing up; each removal is audited. Verified and primary addresses are never touched.
    """
    released = list(
        EmailAddress.objects.select_for_update()
        .filter(email__iexact=invitation.email, verified=False, primary=False)
        .select_related("user")
    )
    for address in released:
        address.delete()
        record_event(
            Action.UNVERIFIED_EMAIL_RELEASED,
            actor=None,
            target=address.user.email,
            details={"address": address.email, "invitation": str(invitation.public_id)},
        )
    return len(released)


@transaction.atomic
def accept_invitation(*, invitation: Invitation, user: User) -> Membership:
    """Single use: the row is locked, so two clicks on the same link make one membership."""
    invitation = Invitation.objects.select_for_update().select_related("organization").get(pk=invitation.pk)
    if invitation.accepted_at or invitation.revoked_at:
        raise ValidationError("This invitation has already been used or was withdrawn.")
    if invitation.expires_at <= timezone.now():
        raise ValidationError("This invitation has expired. Ask an administrator of the organization for a new one.")
    if user.email.lower() != invitation.email.lower():
        raise ValidationError(f"This invitation is for {invitation.email}; you are signed in as {user.email}.")
    if Membership.objects.filter(organization=invitation.organization, user=user).exists():
        raise ValidationError(f"You are already a member of {invitation.organization.name}.")
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    try:
        with transaction.atomic():
            membership = Membership.objects.create(
                organization=invitation.organization, user=user, role=invitation.role
            )
    except IntegrityError:
        raise ValidationError(f"You are already a member of {invitation.organization.name}.") from None
    record_event(
        Action.MEMBER_JOINED,
        actor=user,
        organization=invitation.organization,
        target=user.email,
        details={"role": invitation.role, "invited_by": getattr(invitation.invited_by, "email", "")},
    )
    return membership


def _lock_admins(organization: Organization) -> list[int]:
    """Lock the organization's admin memberships so two concurrent demotions cannot both pass."""
    return list(
        Membership.objects.select_for_update()
        .filter(organization=organization, role=Role.ADMIN)
        .values_list("pk", flat=True)
    )


@transaction.atomic
def change_member_role(*, membership: Membership, role: str, actor: Actor) -> Membership:
    if role not in Role.values:
        raise ValidationError("Choose a role.")
    admins = _lock_admins(membership.organization)
    membership.refresh_from_db(fields=["role"])
    if membership.role == role:
        return membership
    if membership.role == Role.ADMIN and admins == [membership.pk]:
        raise ValidationError("An organization needs at least one administrator: promote someone else first.")
    previous = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    record_event(
        Action.MEMBER_ROLE_CHANGED,
        actor=actor,
        organization=membership.organization,
        target=membership.user.email,
        details={"from": previous, "to": role},
    )
    return membership


@transaction.atomic
def remove_member(*, membership: Membership, actor: Actor) -> None:
    admins = _lock_admins(membership.organization)
    if membership.pk in admins and len(admins) == 1:
        raise ValidationError("An organization needs at least one administrator: promote someone else first.")
    membership.delete()
    record_event(
        Action.MEMBER_REMOVED,
        actor=actor,
        organization=membership.organization,
        target=membership.user.email,
        details={"role": membership.role},
    )


def policies_wait_for_grant(service: ProtectedService) -> bool:
    """casportal enforces a service's policies only with access to it: until a grant, none can be enabled."""
    return service.status == ServiceStatus.NOT_GRANTED


@transaction.atomic
def set_policy_enabled(*, policy: Policy, enabled: bool, actor: Actor) -> Policy:
    """Enable or disable a policy; enabling one of a service without access is refused (the policy chosen on the
    Grant Access form is enabled when its grant completes)."""
    policy = Policy.objects.select_for_update().select_related("service", "organization").get(pk=policy.pk)
    if policy.enabled == enabled:
        return policy
    if enabled and policies_wait_for_grant(policy.service):
        name = policy.service.get_kind_display()
        raise ValidationError(
            f"{policy.name} cannot be enabled for {name}: {name} has no access grant, so casportal cannot apply it. "
            f"Grant access to {name} first; its Grant Access form can enable the policy once the grant is complete."
        )
    policy.enabled = enabled
    policy.save(update_fields=["enabled", "updated_at"])
    record_event(
        Action.POLICY_ENABLED if enabled else Action.POLICY_DISABLED,
        actor=actor,
        organization=policy.organization,
        target=f"{policy.name} ({policy.service.get_kind_display()})",
        details={"policy": str(policy.public_id), "service": policy.service.kind},
    )
    return policy


def email_admins(organization: Organization, *, subject: str, template: str, context: dict[str, object]) -> int:
    """Email the organization's administrators `template` rendered with `context`; returns how many were emailed."""
    recipients = list(
        Membership.objects.filter(organization=organization, role=Role.ADMIN).values_list("user__email", flat=True)
    )
    if not recipients:
        return 0
    send_mail(
        subject=subject,
        message=render_to_string(template, {"organization": organization, **context}),
        from_email=None,
        recipient_list=recipients,
    )
    return len(recipients)
