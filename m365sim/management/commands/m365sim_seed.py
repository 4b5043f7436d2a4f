import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from m365sim import services
from m365sim.seed import DEMO_PASSWORD, seed_tenant

# After a consent, how long each phase of its propagation lasts in a seeded tenant (see m365sim.propagation).
# Microsoft publishes no figure; these make the portal's wait visible, step by step, well inside its budget.
REALISTIC_PROPAGATION_SECONDS = {
    "token_propagation_seconds": 5,
    "consent_propagation_seconds": 20,
    "graph_propagation_seconds": 5,
}


class Command(BaseCommand):
    help = "Create (or complete) a simulated Microsoft 365 tenant, deterministically; safe to run again."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", default="contoso", help="Short name: contoso gives contoso.onmicrosoft.com.")
        parser.add_argument("--users", type=int, default=300)
        parser.add_argument("--groups", type=int, default=40)
        parser.add_argument("--members-per-group", type=int, default=15)
        parser.add_argument("--seed", type=int, default=0)
        for field, seconds in REALISTIC_PROPAGATION_SECONDS.items():
            parser.add_argument(
                "--" + field.replace("_", "-"),
                type=_seconds,
                default=seconds,
                help=f"After a consent, the tenant's {field.split('_')[0]} propagation phase, in seconds "
                f"(default {seconds}; 0 for none).",
            )
        parser.add_argument(
            "--no-propagation", action="store_true", help="Every propagation phase 0: tokens work at once."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        result = seed_tenant(
            str(options["tenant"]),
            users=int(options["users"]),
            groups=int(options["groups"]),
            members_per_group=int(options["members_per_group"]),
            seed=int(options["seed"]),
        )
        propagation = {
            field: 0 if options["no_propagation"] else int(options[field]) for field in REALISTIC_PROPAGATION_SECONDS
        }
        services.set_faults(result.tenant, **propagation)
        domain = f"{result.tenant.slug}.onmicrosoft.com"
        self.stdout.write(
            f"m365sim: tenant {result.tenant.display_name} ({result.tenant.id}): "
            f"{result.users} users, {result.groups} groups, {result.memberships} memberships.\n"
            f"  After a consent: {propagation['token_propagation_seconds']} s without a service principal, "
            f"{propagation['consent_propagation_seconds']} s without the roles, "
            f"{propagation['graph_propagation_seconds']} s refused by Graph.\n"
            f"  Global Administrator:          admin@{domain} / {DEMO_PASSWORD}\n"
            f"  Privileged Role Administrator: pra@{domain} / {DEMO_PASSWORD}\n"
            f"  User:                          alex@{domain} / {DEMO_PASSWORD}"
        )


def _seconds(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of seconds (0 or more)")
    return int(value)
