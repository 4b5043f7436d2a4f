from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from m365sim.seed import DEMO_PASSWORD, seed_tenant


class Command(BaseCommand):
    help = "Create (or complete) a simulated Microsoft 365 tenant, deterministically; safe to run again."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", default="contoso", help="Short name: contoso gives contoso.onmicrosoft.com.")
        parser.add_argument("--users", type=int, default=300)
        parser.add_argument("--groups", type=int, default=40)
        parser.add_argument("--members-per-group", type=int, default=15)
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args: Any, **options: Any) -> None:
        result = seed_tenant(
            str(options["tenant"]),
            users=int(options["users"]),
            groups=int(options["groups"]),
            members_per_group=int(options["members_per_group"]),
            seed=int(options["seed"]),
        )
        domain = f"{result.tenant.slug}.onmicrosoft.com"
        self.stdout.write(
            f"m365sim: tenant {result.tenant.display_name} ({result.tenant.id}): "
            f"{result.users} users, {result.groups} groups, {result.memberships} memberships.\n"
            f"  Global Administrator:          admin@{domain} / {DEMO_PASSWORD}\n"
            f"  Privileged Role Administrator: pra@{domain} / {DEMO_PASSWORD}\n"
            f"  User:                          alex@{domain} / {DEMO_PASSWORD}"
        )
