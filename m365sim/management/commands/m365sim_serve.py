from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.core.servers.basehttp import run

from m365sim.wsgi import SimulatorHandler


class Command(BaseCommand):
    help = "Serve the Microsoft 365 simulator on its own origin (http://localhost:SIM_PORT)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="localhost")
        parser.add_argument("--port", type=int, default=settings.SIM_PORT)

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(
            f"m365sim: http://{options['host']}:{options['port']}/ "
            "(sign-in, Graph under /graph/v1.0/, control API under /_m365sim/)"
        )
        run(options["host"], options["port"], SimulatorHandler(), threading=True)
