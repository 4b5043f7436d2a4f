"""LOG_FORMAT=json: every line parses, and carries the organization, the request or task id and the sync run."""

import copy
import io
import json
import logging
import logging.config
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest

from directory import engine

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def json_lines(settings):
    """The project's LOGGING with the JSON formatter, writing to a buffer; returns a reader of parsed lines."""
    config = copy.deepcopy(settings.LOGGING)
    config["handlers"]["console"]["formatter"] = "json"
    config["root"]["level"] = "INFO"
    logging.config.dictConfig(config)
    (console,) = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    stream = io.StringIO()
    console.setStream(stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logging.config.dictConfig(settings.LOGGING)


@pytest.mark.usefixtures("cast")
def test_a_request_line_carries_the_request_id_and_the_organization(outsider_client, json_lines):
    response = outsider_client.get("/o/contoso/", HTTP_X_REQUEST_ID="req-0123456789")

    assert response.status_code == 404
    assert response["X-Request-ID"] == "req-0123456789"
    (line,) = [line for line in json_lines() if line["logger"] == "django.request"]
    assert line["level"] == "WARNING"
    assert line["request_id"] == "req-0123456789"
    assert line["organization"] == "contoso"
    assert "time" in line


@pytest.mark.django_db
def test_an_unsafe_request_id_is_replaced(client, json_lines):
    response = client.get("/nowhere", HTTP_X_REQUEST_ID='evil"\nid')
    assert response["X-Request-ID"] != 'evil"\nid'
    (line,) = [line for line in json_lines() if line["logger"] == "django.request"]
    assert line["request_id"] == response["X-Request-ID"]
    assert "organization" not in line


def test_a_sync_batch_line_carries_the_task_id_and_the_sync_run(json_lines):
    def run_batch(sync_run_id: int, _fence: int) -> SimpleNamespace:
        logging.getLogger("directory.engine").info("batch of run %s", sync_run_id)
        return SimpleNamespace(fence=None, countdown=None)

    with mock.patch.object(engine, "run_batch", run_batch):
        result = engine.sync_batch.apply(args=(42, 1), task_id="task-0001")

    assert result.successful()
    (line,) = [line for line in json_lines() if line["logger"] == "directory.engine"]
    assert line == line | {"message": "batch of run 42", "task_id": "task-0001", "sync_run": 42}
    assert line["task"] == "provisioning.sync_batch"
    logging.getLogger("after").warning("outside the task")
    assert {"task_id", "sync_run"}.isdisjoint(json_lines()[-1])


def test_secrets_and_bearer_tokens_are_redacted(settings, json_lines):
    settings.MICROSOFT_CLIENT_SECRET = "client-secret-value-123456"
    logger = logging.getLogger("casportal.test")
    logger.warning("token request with %s", settings.MICROSOFT_CLIENT_SECRET)
    logger.warning("Authorization: Bearer eyJ0eXAiOiJKV1Qi.payload.signature")
    messages = [line["message"] for line in json_lines()]
    assert messages == ["token request with [redacted]", "Authorization: Bearer [redacted]"]


def test_log_format_json_is_wired_in_the_settings():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))}
    env.update(DJANGO_SETTINGS_MODULE="casportal.settings", LOG_FORMAT="json")
    code = "import logging; logging.getLogger('probe').warning('hello %s', 'world')"
    result = subprocess.run(  # noqa: PLW1510 (the test reads the exit status)
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    (line,) = [json.loads(raw) for raw in result.stderr.splitlines() if '"probe"' in raw]
    assert line["message"] == "hello world"
    assert line["level"] == "WARNING"
