"""A full grant and sync with every logger at DEBUG logs no secret; the database holds none in clear."""

import logging
import os
import re
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client
from django.urls import reverse

from directory.models import SyncRun
from m365sim.models import AuthorizationCode
from tests.admin.staff import TOTP_SECRET, mfa_client
from tests.factories import PASSWORD
from tests.m365sim.browser import PASSWORD as MICROSOFT_PASSWORD
from tests.processes import ROOT

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])

LOGGERS = ["", "msal", "urllib3", "requests", "django", "django.db.backends", "django.request", "celery", "allauth"]
LOGGERS += ["provisioning", "tenants", "accounts", "audit", "casportal", "m365sim"]
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}")


@pytest.fixture
def everything_logged(caplog):
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
        logger = logging.getLogger(name)
        if name and caplog.handler not in logger.handlers and not logger.propagate:
            logger.addHandler(caplog.handler)
    # The portal's SQL and its parameters are logged as with DEBUG = True (the simulator plays Microsoft: its own
    # database holds the codes it issued, and is not the portal's).
    connections["default"].force_debug_cursor = True
    yield caplog
    connections["default"].force_debug_cursor = False
    for name in LOGGERS:
        if caplog.handler in logging.getLogger(name).handlers:
            logging.getLogger(name).removeHandler(caplog.handler)


def test_a_grant_and_sync_at_debug_logs_no_secret(cast, driver, everything_logged, monkeypatch):
    issued: list[str] = []
    original_save = AuthorizationCode.save

    def remember(self, *args, **kwargs):
        issued.append(self.code)
        return original_save(self, *args, **kwargs)

    monkeypatch.setattr(AuthorizationCode, "save", remember)
    signed_in = Client().post(reverse("account_login"), {"login": cast.owner.user.email, "password": PASSWORD})
    assert signed_in.status_code == 302
    assert driver.grant().status_code == 302
    driver.tasks.run()
    assert SyncRun.objects.get(organization=cast.organization).status == "succeeded"

    portal = [record for record in everything_logged.records if not record.name.startswith("m365sim")]
    lines = [record.getMessage() for record in portal]
    lines += [str(record.args) for record in portal if record.args]
    assert len(everything_logged.records) > 100  # DEBUG really was on: SQL, HTTP, MSAL
    assert any(record.name == "django.db.backends" for record in everything_logged.records)
    assert any(record.name.startswith(("urllib3", "msal")) for record in everything_logged.records)
    assert issued, "the simulator issued no authorization code"
    assert settings.MICROSOFT_CLIENT_SECRET is not None
    secrets = {
        "client secret": settings.MICROSOFT_CLIENT_SECRET,
        "portal password": PASSWORD,
        "Microsoft password": MICROSOFT_PASSWORD,
        **{f"authorization code {n}": code for n, code in enumerate(issued)},
    }
    leaks = set()
    for record in portal:
        line = f"{record.getMessage()} {record.args!r}"
        for what, secret in secrets.items():
            if secret in line:
                leaks.add((what.split(" 0")[0].rstrip(" 0123456789"), record.name))
        if JWT.search(line):
            leaks.add(("token", record.name))
    # MSAL's token cache logs the redeemed authorization code at DEBUG: the portal must keep that logger quieter
    # (see test_msal_token_cache_stays_quiet_when_the_portal_logs_at_debug); everything else must hold nothing.
    assert leaks - {("authorization code", "msal.token_cache")} == set()


def test_msal_token_cache_stays_quiet_when_the_portal_logs_at_debug():
    probe = "import logging, django; django.setup(); print(logging.getLogger('msal.token_cache').isEnabledFor(10))"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "casportal.settings", "LOG_LEVEL": "DEBUG"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == "False"


def _text_values(alias: str) -> list[tuple[str, str, str]]:
    connection = connections[alias]
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            columns = [
                column.name
                for column in connection.introspection.get_table_description(cursor, table)
                if "char" in str(column.type_code).lower()
                or "text" in str(column.type_code).lower()
                or connection.vendor == "postgresql"
            ]
            if not columns:
                continue
            quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
            cursor.execute(f"SELECT {quoted} FROM {connection.ops.quote_name(table)}")  # noqa: S608 (introspected names)
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    if isinstance(value, (str, bytes, memoryview)):
                        text = bytes(value).decode("latin-1") if not isinstance(value, str) else value
                        found.append((table, column, text))
    return found


def test_the_database_holds_no_token_cache_or_totp_secret_in_clear(cast, driver):
    mfa_client(cast.owner.user)  # TOTP enrolled with a known secret
    assert driver.grant().status_code == 302
    driver.tasks.run()
    values = _text_values("default")
    assert len(values) > 50
    assert settings.MICROSOFT_CLIENT_SECRET is not None
    for table, column, text in values:
        assert TOTP_SECRET not in text, f"TOTP secret in clear in {table}.{column}"
        assert settings.MICROSOFT_CLIENT_SECRET not in text, f"client secret in {table}.{column}"
        assert not JWT.search(text), f"a token in clear in {table}.{column}"
        for key in ('"access_token"', '"AccessToken"', '"RefreshToken"', '"refresh_token"'):
            assert key not in text, f"a token cache in {table}.{column}"
