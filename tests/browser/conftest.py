"""The stack `make run` starts, as real processes, and a headless Chromium driving it.

The portal (`runserver`), the Microsoft 365 simulator (`m365sim_serve`) and a Celery worker run as separate
OS processes on PostgreSQL and Redis, as in production; a SQLite file shared by several processes is not
what these tests prove (DESIGN.md), so on SQLite they are skipped. Each session starts from fresh databases
(`casportal_browser` and `casportal_browser_m365sim` next to DATABASE_URL's) and a private Redis database.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import dj_database_url
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
DATABASE_NAME = "casportal_browser"
REDIS_DB = 11  # not 0 (development) nor 15 (CI's test suite)
STARTUP_TIMEOUT = 60


def _postgres_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.split(":", 1)[0] in ("postgres", "postgresql", "pgsql") else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _recreate_databases(url: str) -> str:
    """Fresh portal and simulator databases on the server DATABASE_URL names; the portal's URL."""
    import psycopg

    config = dj_database_url.parse(url)
    conninfo = {
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


def _redis_url() -> str:
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
        response = session.request(method, f"{self.sim_url}/_m365sim/{path}", json=payload, timeout=10)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def _http_ok(url: str) -> bool:
    session = requests.Session()
    session.trust_env = False
    return session.get(url, timeout=2).status_code == 200


@pytest.fixture(scope="package")
def stack(tmp_path_factory) -> Iterator[Stack]:
    database_url = _postgres_url()
    if database_url is None:
        pytest.skip(
            "browser tests start the portal, the simulator and a Celery worker as separate processes: "
            "they need PostgreSQL and Redis (set DATABASE_URL=postgres://… and REDIS_URL; CI does)"
        )
    import redis

    redis_url = _redis_url()
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=2).flushdb()
    except redis.RedisError as exc:
        pytest.skip(f"browser tests need Redis at {redis_url}: {exc}")
    portal_port, sim_port = _free_port(), _free_port()
    portal_url, sim_url = f"http://127.0.0.1:{portal_port}", f"http://localhost:{sim_port}"
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("CELERY_BROKER_URL", "M365SIM_DATABASE_URL", "PYTEST_CURRENT_TEST")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="casportal.settings",
        DJANGO_ENV="development",
        DATABASE_URL=_recreate_databases(database_url),
        REDIS_URL=redis_url,
        CASPORTAL_VAR_DIR=str(tmp_path_factory.mktemp("casportal-var")),
        PORTAL_BASE_URL=portal_url,  # the simulator's seed registers the portal's callbacks on this origin
        SIM_PORT=str(sim_port),
        MICROSOFT_SIMULATOR_URL=sim_url,
        MICROSOFT_LOGIN_HOST=sim_url,
        GRANT_ACCESS_RETRY_SECONDS="1",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        NO_PROXY="localhost,127.0.0.1",
        PYTHONUNBUFFERED="1",
    )
    stack = Stack(portal_url=portal_url, sim_url=sim_url, env=env)
    try:
        stack.manage("migrate", "--noinput")
        stack.manage("migrate", "--database", "m365sim", "--noinput")
        stack.manage("seed_demo")
        stack.manage(
            "m365sim_seed", "--tenant", "contoso", "--users", "300", "--groups", "40", "--members-per-group", "15"
        )
        python, celery = str(VENV_BIN / "python"), str(VENV_BIN / "celery")
        stack.start("simulator", [python, "manage.py", "m365sim_serve", "--port", str(sim_port)])
        stack.start("portal", [python, "manage.py", "runserver", "--noreload", f"127.0.0.1:{portal_port}"])
        worker_argv = [celery, "-A", "casportal", "worker", "-Q", "default,sync,health", "-c", "1", "-P", "solo"]
        worker = stack.start("worker", [*worker_argv, "--loglevel", "INFO", "--without-mingle", "--without-gossip"])
        stack.wait_until("the simulator", lambda: _http_ok(f"{sim_url}/_m365sim/tenants/contoso"))
        stack.wait_until("the portal", lambda: _http_ok(f"{portal_url}/healthz"))
        stack.wait_until("the worker", lambda: " ready." in worker.log.read_text(errors="replace"))
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="package")
def browser(stack: Stack) -> Iterator[Any]:
    """Debian's Chromium, headless; never a browser downloaded by Playwright."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    shutil.rmtree(SCREENSHOTS, ignore_errors=True)  # this run's screenshots only

    # Playwright runs an event loop in this thread; Django's ORM guard would refuse any call made here.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        patch.setenv("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                yield chromium
            finally:
                chromium.close()


@pytest.fixture
def page(browser, request) -> Iterator[Any]:
    """A fresh profile (no cookies, no storage) per test, 1280 x 800."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        yield page
    finally:
        if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(Exception):
                page.screenshot(path=SCREENSHOTS / f"FAILED-{request.node.name}.png")
        context.close()


@pytest.fixture(autouse=True)
def _process_logs_on_failure(request) -> Iterator[None]:
    """A failed browser test shows the tail of the portal's, the simulator's and the worker's logs."""
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed and "stack" in request.fixturenames:
        print(request.getfixturevalue("stack").logs())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


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
