from allauth.account.forms import default_token_generator
from allauth.account.models import EmailAddress
from allauth.account.utils import user_pk_to_url_str
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse

from accounts.models import User
from organizations import services
from organizations.models import Region, Role


def set_password_link(user: User) -> str:
    key = f"{user_pk_to_url_str(user)}-{default_token_generator.make_token(user)}"
    path = reverse("account_reset_password_from_key", kwargs={"uidb36": "UID", "key": "KEY"})
    return settings.PORTAL_BASE_URL + path.replace("UID-KEY", key)


class Command(BaseCommand):
    help = "Create an organization and its first administrator, and send (and print) a set-password link."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Organization name, e.g. 'Contoso Ltd'.")
        parser.add_argument("--admin", required=True, metavar="EMAIL", help="Email of its first administrator.")
        parser.add_argument("--slug", default="", help="URL slug (default: from the name).")
        parser.add_argument("--region", default=Region.NORTH_AMERICA, choices=Region.values)

    def handle(self, *args: object, name: str, admin: str, slug: str, region: str, **options: object) -> None:
        try:
            validate_email(admin)
        except ValidationError as exc:
            raise CommandError(f"{admin!r} is not an email address.") from exc
        email = admin.lower()
        User = get_user_model()
        with transaction.atomic():
            try:
                organization = services.create_organization(name=name, slug=slug, region=region, actor=None)
            except ValidationError as exc:
                raise CommandError(exc.messages[0]) from exc
            user = User.objects.filter(email__iexact=email).first()
            new_user = user is None
            if user is None:
                user = User.objects.create_user(email=email, password=None)
            EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
            services.add_member(organization=organization, user=user, role=Role.ADMIN, actor=None)
        self.stdout.write(
            f"Created organization {organization.name} (/o/{organization.slug}/) with administrator {email}."
        )
        if new_user:
            link = set_password_link(user)
            send_mail(
                subject=f"Your casportal account for {organization.name}",
                message=f"An account was created for you as administrator of {organization.name}.\n\n"
                f"Choose your password: {link}\n",
                from_email=None,
                recipient_list=[email],
            )
            self.stdout.write(f"Set-password link (also emailed): {link}")
