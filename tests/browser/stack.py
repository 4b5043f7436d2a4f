"""The stack the browser tests drive: PostgreSQL and Redis databases of their own, the portal, the simulator and a
Celery worker as real processes, and the screenshots taken on the way."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import dj_database_url
import psycopg
import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SCREENSHOTS = ROOT / "var" / "screenshots"
LOGS = ROOT / "var" / "browser-tests"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
]
# Overridable so that two checkouts can run the browser tests at once.
DATABASE_NAME = os.environ.get("BROWSER_TESTS_DATABASE", "casportal_browser")
REDIS_DB = int(os.environ.get("BROWSER_TESTS_REDIS_DB", "11"))  # not 0 (development) nor 15 (CI's test suite)
STARTUP_TIMEOUT = 60
# m365sim_seed gives a tenant make run's realistic consent propagation; a test that is not about it turns it off.
NO_PROPAGATION = ("--no-propagation",)


def postgres_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.split(":", 1)[0] in ("postgres", "postgresql", "pgsql") else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def recreate_databases(url: str) -> str:
    """Fresh portal and simulator databases on the server DATABASE_URL names; the portal's URL."""
    config = dj_database_url.parse(url)
    conninfo: dict[str, Any] = {  # connection parameters, passed on to libpq
        "host": config["HOST"] or "127.0.0.1",
        "port": config["PORT"] or 5432,
        "user": config["USER"] or "postgres",
        "password": config["PASSWORD"] or None,
        "dbname": "postgres",
    }
    with psycopg.connect(**conninfo, autocommit=True) as connection:
        for name in (DATABASE_NAME, f"{DATABASE_NAME}_m365sim"):
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{name}"')
    scheme, rest = url.split("://", 1)
    server = rest.rsplit("/", 1)[0]
    return f"{scheme}://{server}/{DATABASE_NAME}"


def redis_url() -> str:
    base = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    scheme, rest = base.split("://", 1)
    server = rest.split("/", 1)[0]
    return f"{scheme}://{server}/{REDIS_DB}"


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path
    _handle: IO[bytes]

    def tail(self, lines: int = 40) -> str:
        self._handle.flush()
        text = self.log.read_text(errors="replace").splitlines()
        return f"--- {self.name} ({self.log}) ---\n" + "\n".join(text[-lines:])

    def stop(self) -> None:
        """The whole process group: runserver and celery start children of their own."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
        # Children left behind by a parent that died first.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self._handle.close()


@dataclass
class Stack:
    """The running portal, simulator and worker, and how to reach them."""

    portal_url: str
    sim_url: str
    env: dict[str, str]
    processes: list[Process] = field(default_factory=list)

    def manage(self, *args: str, timeout: float = 120) -> str:
        """Run a management command against the stack's databases; its output."""
        result = subprocess.run(
            [str(VENV_BIN / "python"), "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def start(self, name: str, argv: list[str]) -> Process:
        LOGS.mkdir(parents=True, exist_ok=True)
        log = LOGS / f"{name}.log"
        handle = log.open("wb")
        popen = subprocess.Popen(
            argv, cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        process = Process(name, popen, log, handle)
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(process.tail() for process in self.processes)

    def wait_until(self, what: str, ready, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.popen.poll() is not None:
                    pytest.fail(f"{process.name} exited with {process.popen.returncode}\n{self.logs()}")
            with contextlib.suppress(requests.RequestException):
                if ready():
                    return
            time.sleep(0.2)
        pytest.fail(f"{what} not ready after {timeout} s\n{self.logs()}")

    def control(self, method: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """The simulator's control API."""
        session = requests.Session()
        session.trust_env = False  # localhost, never through a proxy
        session.headers["Authorization"] = f"Bearer {self.env['M365SIM_CONTROL_TOKEN']}"
        response = session.request(
            method,
            f"{self.sim_url}/_m365sim/{path}",
            json=dict(payload or {}) if method == "POST" else payload,
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def http_ok(url: str) -> bool:
    session = requests.Session()
    session.trust_env = False
    return session.get(url, timeout=2).status_code == 200


class Screenshots:
    """Numbered screenshots of each step in var/screenshots/."""

    def __init__(self, prefix: str) -> None:
        self.prefix, self.count = prefix, 0
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def __call__(self, page, name: str) -> Path:
        self.count += 1
        path = SCREENSHOTS / f"{self.prefix}-{self.count:02d}-{name}.png"
        page.screenshot(path=path)
        return path
