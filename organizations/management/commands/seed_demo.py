from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import enrolment
from accounts.models import User
from organizations import services
from organizations.models import Organization, Role

DEMO_PASSWORD = "casportal-demo"  # noqa: S105 (published demo credentials)
DEMO_ADMIN = "admin@contoso.test"
SUPPORT_USER = "support@casportal.test"


class Command(BaseCommand):
    help = "Seed the demo organization Contoso, its admin and a support superuser. Safe to run again."

    def _user(self, email: str, **flags: bool) -> User:
        User = get_user_model()
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email=email, password=DEMO_PASSWORD, **flags)
        EmailAddress.objects.get_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
        return user

    @transaction.atomic
    def handle(self, *args: object, **options: object) -> None:
        admin = self._user(DEMO_ADMIN)
        support = self._user(SUPPORT_USER, is_staff=True, is_superuser=True)
        organization = Organization.objects.filter(slug="contoso").first()
        if organization is None:
            organization = services.create_organization(name="Contoso", slug="contoso", actor=None)
        services.add_member(organization=organization, user=admin, role=Role.ADMIN, actor=None)
        self.stdout.write(
            f"Demo organization {organization.name}: log in as {DEMO_ADMIN} / {DEMO_PASSWORD}\n"
            f"Support staff (Django admin at /admin/): {SUPPORT_USER} / {DEMO_PASSWORD}"
        )
        if not enrolment.has_totp(support):
            # Staff enrol two-factor authentication only with a link: the demo's first admin visit needs one.
            link = enrolment.issue_enrolment(
                user=support, actor=None, reason="Demo seed: the support account's first enrolment."
            )
            self.stdout.write(f"  then, signed in as {SUPPORT_USER}, set up two-factor authentication at: {link}")
