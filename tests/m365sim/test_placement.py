"""The simulator stays out of production and out of the portal's database."""

import subprocess
import sys

import pytest
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from m365sim.routers import SimulatorRouter


def test_production_settings_leave_the_simulator_out():
    code = (
        "import casportal.settings as s; "
        "assert 'm365sim' not in s.INSTALLED_APPS and 'm365sim' not in s.DATABASES; "
        "assert not s.MICROSOFT_SIMULATOR_URL and s.MICROSOFT_LOGIN_HOST == 'https://login.microsoftonline.com'"
    )
    env = {
        "DJANGO_ENV": "production",
        "SECRET_KEY": "x" * 50,
        "ALLOWED_HOSTS": "portal.example",
        "DATABASE_URL": "postgres://u@localhost/db",
        "REDIS_URL": "redis://localhost:6379/0",
        "FIELD_ENCRYPTION_KEYS": "a" * 43 + "=",
        "MICROSOFT_CLIENT_ID": "00000000-0000-0000-0000-000000000000",
        "MICROSOFT_CLIENT_SECRET": "s",
        "PATH": "/usr/bin:/bin",
    }
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=settings.BASE_DIR)


def test_the_app_refuses_to_load_in_production(monkeypatch):
    monkeypatch.setattr(settings, "DJANGO_ENV", "production")
    with pytest.raises(ImproperlyConfigured):
        apps.get_app_config("m365sim").ready()


def test_its_tables_live_only_in_its_database():
    router = SimulatorRouter()
    assert router.allow_migrate("m365sim", "m365sim") is True
    assert router.allow_migrate("default", "m365sim") is False
    assert router.allow_migrate("m365sim", "tenants") is False
    assert router.allow_migrate("default", "tenants") is None
