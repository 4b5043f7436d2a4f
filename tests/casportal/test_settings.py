import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from casportal import env

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "x" * 64 + "-production-secret-for-the-check-only",
    "ALLOWED_HOSTS": "portal.example.com",
    "DATABASE_URL": "postgres://casportal@db.example.com/casportal",
    "REDIS_URL": "redis://cache.example.com:6379/0",
    "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "EMAIL_HOST": "smtp.example.com",
    "MICROSOFT_CLIENT_ID": "00000000-0000-0000-0000-000000000001",
    "MICROSOFT_CLIENT_SECRET": "production-client-secret",
}


def run_manage(*args: str, extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {
        k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV and not k.startswith(("DJANGO_", "MICROSOFT_"))
    }
    return subprocess.run(  # noqa: PLW1510 (the caller checks the exit status)
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "casportal.settings", **extra_env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", extra_env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    "missing", ["SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "DATABASE_URL", "ALLOWED_HOSTS", "REDIS_URL"]
)
def test_production_refuses_to_start_without_a_required_setting(missing):
    extra = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = run_manage("check", extra_env=extra)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert missing in result.stderr


def test_a_bad_boolean_fails_at_start_up():
    result = run_manage("check", extra_env={"DEBUG": "perhaps"})
    assert result.returncode != 0
    assert "DEBUG='perhaps' is not a boolean" in result.stderr


@pytest.mark.parametrize("value", ["7,30", "30,30", "30,0", "thirty", ""])
def test_the_secret_warning_days_must_be_positive_and_descending(value):
    result = run_manage("check", extra_env={"MICROSOFT_CLIENT_SECRET_WARNING_DAYS": value})
    assert result.returncode != 0
    assert "MICROSOFT_CLIENT_SECRET_WARNING_DAYS" in result.stderr


@pytest.mark.usefixtures("tmp_path")
def test_env_helpers(monkeypatch):
    monkeypatch.setenv("FLAG", "yes")
    assert env.env_bool("FLAG", default=False) is True
    monkeypatch.setenv("FLAG", "nope")
    with pytest.raises(ImproperlyConfigured):
        env.env_bool("FLAG", default=False)
    monkeypatch.setenv("COUNT", "ten")
    with pytest.raises(ImproperlyConfigured):
        env.env_int("COUNT", 1)
    monkeypatch.setenv("HOSTS", "a.example, b.example,")
    assert env.env_list("HOSTS", []) == ["a.example", "b.example"]
    monkeypatch.setenv("DAYS", "14, 3")
    assert env.env_int_list("DAYS", [30]) == [14, 3]
    monkeypatch.delenv("DAYS")
    assert env.env_int_list("DAYS", [30, 7]) == [30, 7]


def test_secrets_can_come_from_files(monkeypatch, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file\n")
    monkeypatch.setenv("API_SECRET_FILE", str(secret_file))
    assert env.env_secret("API_SECRET") == "from-a-file"
    monkeypatch.setenv("API_SECRET", "also-set")
    with pytest.raises(ImproperlyConfigured, match="not both"):
        env.env_secret("API_SECRET")
    monkeypatch.delenv("API_SECRET")
    monkeypatch.setenv("API_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        env.env_secret("API_SECRET")
