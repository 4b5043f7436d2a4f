import secrets
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.core.servers.basehttp import run

from m365sim.wsgi import SimulatorHandler

TOKEN_FILE = settings.VAR_DIR / "m365sim-control-token"


class Command(BaseCommand):
    help = "Serve the Microsoft 365 simulator on its own origin (http://localhost:SIM_PORT)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="localhost")
        parser.add_argument("--port", type=int, default=settings.SIM_PORT)

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.M365SIM_CONTROL_TOKEN:
            settings.M365SIM_CONTROL_TOKEN = secrets.token_urlsafe(24)
        TOKEN_FILE.parent.mkdir(parents=True, exist_ok=True)
        TOKEN_FILE.write_text(settings.M365SIM_CONTROL_TOKEN + "\n")
        TOKEN_FILE.chmod(0o600)
        self.stdout.write(
            f"m365sim: http://{options['host']}:{options['port']}/ "
            "(sign-in, Graph under /graph/v1.0/, control API under /_m365sim/)\n"
            f"m365sim: control API token for this run in {TOKEN_FILE} (Authorization: Bearer <token>)"
        )
        run(options["host"], options["port"], SimulatorHandler(), threading=True)
