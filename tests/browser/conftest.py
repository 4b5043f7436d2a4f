"""The stack `make run` starts, as real processes, and a headless Chromium driving it.

The portal (`runserver`), the Microsoft 365 simulator (`m365sim_serve`) and a Celery worker run as separate
OS processes on PostgreSQL and Redis, as in production; a SQLite file shared by several processes is not
what these tests prove, so on SQLite they are skipped. Each session starts from fresh databases
(`casportal_browser` and `casportal_browser_m365sim` next to DATABASE_URL's) and a private Redis database.
"""

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from playwright.sync_api import sync_playwright

from tests.browser.stack import (
    CHROMIUM,
    CHROMIUM_ARGS,
    NO_PROPAGATION,
    SCREENSHOTS,
    VENV_BIN,
    Stack,
    free_port,
    http_ok,
    postgres_url,
    recreate_databases,
    redis_url,
)


@pytest.fixture(scope="package")
def stack(tmp_path_factory) -> Iterator[Stack]:
    database_url = postgres_url()
    if database_url is None:
        pytest.skip(
            "browser tests start the portal, the simulator and a Celery worker as separate processes: "
            "they need PostgreSQL and Redis (set DATABASE_URL=postgres://… and REDIS_URL; CI does)"
        )
    redis_address = redis_url()
    try:
        redis.Redis.from_url(redis_address, socket_connect_timeout=2).flushdb()
    except redis.RedisError as exc:
        pytest.skip(f"browser tests need Redis at {redis_address}: {exc}")
    portal_port, sim_port = free_port(), free_port()
    portal_url, sim_url = f"http://127.0.0.1:{portal_port}", f"http://localhost:{sim_port}"
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("CELERY_BROKER_URL", "M365SIM_DATABASE_URL", "PYTEST_CURRENT_TEST")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="casportal.settings",
        DJANGO_ENV="development",
        DATABASE_URL=recreate_databases(database_url),
        REDIS_URL=redis_address,
        CASPORTAL_VAR_DIR=str(tmp_path_factory.mktemp("casportal-var")),
        PORTAL_BASE_URL=portal_url,  # the simulator's seed registers the portal's callbacks on this origin
        SIM_PORT=str(sim_port),
        MICROSOFT_SIMULATOR_URL=sim_url,
        MICROSOFT_LOGIN_HOST=sim_url,
        M365SIM_CONTROL_TOKEN=secrets.token_urlsafe(24),
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
            "m365sim_seed",
            *("--tenant", "contoso", "--users", "300", "--groups", "40", "--members-per-group", "15"),
            *NO_PROPAGATION,
        )
        python, celery = str(VENV_BIN / "python"), str(VENV_BIN / "celery")
        stack.start("simulator", [python, "manage.py", "m365sim_serve", "--port", str(sim_port)])
        stack.start("portal", [python, "manage.py", "runserver", "--noreload", f"127.0.0.1:{portal_port}"])
        worker_argv = [celery, "-A", "casportal", "worker", "-c", "1", "-P", "solo"]
        worker = stack.start("worker", [*worker_argv, "--loglevel", "INFO", "--without-mingle", "--without-gossip"])
        stack.wait_until("the simulator", lambda: http_ok(f"{sim_url}/"))
        stack.wait_until("the portal", lambda: http_ok(f"{portal_url}/healthz"))
        stack.wait_until("the worker", lambda: " ready." in worker.log.read_text(errors="replace"))
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="package")
def browser(stack: Stack) -> Iterator[Any]:  # noqa: ARG001 (needed for its side effect: fixtures cannot take usefixtures)
    """Debian's Chromium, headless; never a browser downloaded by Playwright."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
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
def pytest_runtest_makereport(item):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
