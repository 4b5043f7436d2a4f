"""Sentry reports errors only when SENTRY_DSN is set."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import sentry_sdk; from django.conf import settings; settings.INSTALLED_APPS; "
    "client = sentry_sdk.get_client(); "
    "print(sentry_sdk.is_initialized(), client.options.get('send_default_pii'))"
)


def settings_probe(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_", "SENTRY_"))}
    result = subprocess.run(  # noqa: PLW1510 (the test reads the exit status)
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "casportal.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_sentry_is_off_without_a_dsn():
    assert settings_probe() == "False None"


def test_sentry_starts_with_a_dsn_and_sends_no_personal_data():
    # Nothing is sent: initializing only parses the DSN.
    assert settings_probe(SENTRY_DSN="https://public-key@sentry.invalid/1") == "True False"
