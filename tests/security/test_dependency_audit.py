"""`make audit` needs PyPI's vulnerability data: when it cannot be reached, it says so and fails, auditing nothing."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLOSED_PORT_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens, so every connection is refused


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_audit_fails_clearly_when_the_vulnerability_data_is_unreachable():
    offline = {key: value for key, value in os.environ.items() if key.lower() not in ("no_proxy", "https_proxy")}
    offline |= {"https_proxy": CLOSED_PORT_PROXY, "HTTPS_PROXY": CLOSED_PORT_PROXY}
    result = subprocess.run(  # noqa: PLW1510 (the exit status is asserted)
        # -o: the virtualenv counts as installed, so nothing is downloaded first.
        ["make", "-s", "-o", ".venv/bin/.installed", "audit"],
        cwd=ROOT,
        env=offline,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "cannot be reached: nothing was audited (pip-audit needs the network)" in result.stderr
    assert "pip_audit" not in result.stderr + result.stdout  # stopped before pip-audit ran
