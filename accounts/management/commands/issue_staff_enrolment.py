"""Issue a staff two-factor enrolment link from the server's shell: how the first superuser enrols (no other
superuser can yet), and a way in when none is reachable. Whoever runs it can already run the whole portal."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import enrolment
from accounts.models import User


class Command(BaseCommand):
    help = "Print a single-use link with which a staff account sets up two-factor authentication (audited)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="The staff account's email address.")
        parser.add_argument(
            "--reason", default="Issued with manage.py issue_staff_enrolment.", help="Recorded in the audit log."
        )

    def handle(self, *args: object, email: str, reason: str, **options: object) -> None:
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No account has the email address {email}.")
        try:
            link = enrolment.issue_enrolment(user=user, actor=None, reason=reason)
        except enrolment.EnrolmentRefused as refusal:
            raise CommandError(str(refusal)) from None
        self.stdout.write(
            f"Enrolment link for {user.email} (works once, within {enrolment.ENROLMENT_LINK_HOURS} hours, "
            f"signed in as {user.email}):\n{link}"
        )
