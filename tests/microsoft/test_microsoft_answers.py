"""Answers in the shapes Microsoft documents, read as what they mean: a declined admin consent in its documented
form, and error descriptions without Microsoft's diagnostics lines."""

import pytest

from microsoft import errors, identity

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])

# The admin-consent endpoint's error response, as documented (v2-admin-consent, "Error response").
DOCUMENTED_DECLINE = {
    "admin_consent": "True",
    "error": "consent_required",
    "error_description": "AADSTS65004: User declined to consent to access the app.\r\n"
    "Trace ID: 0b8c1fd1-0b8c-1fd1-0b8c-1fd10b8c1fd1\r\nCorrelation ID: 2f1a\r\nTimestamp: 2026-12-01 10:00:00Z",
    "state": "leg-1",
}


def test_the_documented_decline_is_a_declined_consent():
    with pytest.raises(errors.ConsentDeclined) as declined:
        identity.parse_admin_consent(DOCUMENTED_DECLINE, expected_state="leg-1")
    assert declined.value.code == identity.CONSENT_DECLINED_CODE
    assert declined.value.message == "AADSTS65004: User declined to consent to access the app."


def test_a_decline_as_access_denied_is_a_declined_consent_too():
    params = {**DOCUMENTED_DECLINE, "error": "access_denied"}
    with pytest.raises(errors.ConsentDeclined):
        identity.parse_admin_consent(params, expected_state="leg-1")


def test_consent_required_without_a_decline_asks_for_interaction():
    params = {
        "error": "consent_required",
        "error_description": "AADSTS65001: consent needed. Trace ID: x",
        "state": "s",
    }
    with pytest.raises(errors.InteractionRequired) as needed:
        identity.parse_admin_consent(params, expected_state="s")
    assert needed.value.message == "AADSTS65001: consent needed."


@pytest.mark.usefixtures("m365sim")
def test_a_token_error_in_microsofts_layout_keeps_no_trace_lines(contoso):
    with pytest.raises(errors.ConsentRevoked) as revoked:
        identity.acquire_app_token(str(contoso.id))
    assert revoked.value.code == 7000229
    assert "Trace ID" not in revoked.value.message
    assert "\r" not in revoked.value.message
    assert "\n" not in revoked.value.message
