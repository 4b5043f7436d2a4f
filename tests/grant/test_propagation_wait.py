"""The wait after both legs, through the real flow, with each of Microsoft's propagation phases set on the simulated
tenant: the admin sees what the portal waits for and for how long, the checks back off, and only a spent budget
ends the grant, saying what Microsoft was still doing."""

import datetime as dt
import html
import re

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from audit.models import Action, AuditEvent
from grant import waiting
from grant.models import GrantAttempt, GrantStep
from m365sim import services as sim
from m365sim.models import ServicePrincipal
from microsoft import errors
from organizations.models import ProtectedService, ServiceStatus
from tests.grant.test_grant_refusals import assert_nothing_bound, page_text

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])

CHECK = "provisioning.check_grant_access"
PHASES = ("token_propagation_seconds", "consent_propagation_seconds", "graph_propagation_seconds")
WAITING_FOR = {
    "token_propagation_seconds": "Microsoft to set up casportal in your tenant (its service principal)",
    "consent_propagation_seconds": "Microsoft to give casportal the permissions you accepted",
    "graph_propagation_seconds": "Microsoft Graph to accept casportal's access",
}


def consented_ago(seconds: float) -> None:
    ServicePrincipal.objects.update(admin_consented_at=timezone.now() - dt.timedelta(seconds=seconds))


def waited(seconds: float) -> None:
    """As if the wait had gone on for this long (its budget is GRANT_ACCESS_WAIT_SECONDS)."""
    started = timezone.now() - dt.timedelta(seconds=seconds)
    GrantAttempt.objects.update(access_deadline=started + dt.timedelta(seconds=settings.GRANT_ACCESS_WAIT_SECONDS))


def next_check(driver) -> float | None:
    """Run the access check queued; the pause before the one it queued in turn (None when it queued none)."""
    queued, task = driver.tasks.pending.pop(0)
    assert queued.name == CHECK
    with driver.capture(execute=True):
        task.apply(args=queued.args, throw=True)
    checks = [queued.countdown for queued, _ in driver.tasks.pending if queued.name == CHECK]
    assert len(checks) <= 1
    return checks[0] if checks else None


@pytest.fixture
def propagating(contoso):
    """Every phase ten minutes long: where the consent stands is set by moving its time back."""
    return sim.set_faults(contoso, **dict.fromkeys(PHASES, 600))


def status_page(driver, response) -> str:
    return html.unescape(page_text(driver.portal("get", response["Location"])))


def test_each_phase_is_waited_out_and_the_page_says_which(cast, driver, propagating):  # noqa: ARG001
    response = driver.grant()
    assert response.status_code == 302
    assert GrantAttempt.objects.get().step == GrantStep.AWAITING_ACCESS
    for index, phase in enumerate(PHASES):
        consented_ago(600 * index + 1)
        next_check(driver)
        page = status_page(driver, response)
        assert "Waiting for Microsoft to activate them" in page
        assert WAITING_FOR[phase] in page
        assert GrantAttempt.objects.get().step == GrantStep.AWAITING_ACCESS
        assert_nothing_bound(cast)
    consented_ago(1801)
    assert next_check(driver) is None
    assert ProtectedService.objects.get(organization=cast.organization, kind="exchange-online").status in (
        ServiceStatus.PROVISIONING,
        ServiceStatus.PROTECTED,
    )
    assert not AuditEvent.objects.filter(action=Action.GRANT_REFUSED).exists()


def test_the_page_shows_the_time_waited_against_the_budget_and_microsofts_last_answer(driver, propagating):  # noqa: ARG001
    response = driver.grant()
    page = status_page(driver, response)
    assert re.search(r"\b[01] s of up to 120 s\b", page)
    assert "AADSTS7000229" in page  # Microsoft's own words at the last check, without its diagnostics lines
    assert "Trace ID" not in page

    waited(42.5)
    page = status_page(driver, response)
    match = re.search(r"(\d+) s of up to 120 s", page)
    assert match is not None
    shown = int(match.group(1))
    assert shown in (42, 43)
    assert f'<progress class="w-100 mb-2" value="{shown}" max="120"' in page


@pytest.mark.parametrize("phase", PHASES)
def test_a_spent_budget_ends_the_grant_saying_what_microsoft_was_still_doing(cast, driver, propagating, phase):  # noqa: ARG001
    response = driver.grant()
    consented_ago(600 * PHASES.index(phase) + 1)
    waited(121)
    assert next_check(driver) is None

    attempt = GrantAttempt.objects.get()
    assert attempt.step == GrantStep.REFUSED
    assert attempt.error.startswith("Microsoft did not activate the permissions in time (120 s)")
    still = {
        "token_propagation_seconds": "Microsoft's sign-in service did not yet know casportal in your tenant "
        "(Microsoft answered AADSTS7000229)",
        "consent_propagation_seconds": "casportal's access did not yet carry the permissions you accepted "
        "(Microsoft answered Authorization_RequestDenied)",
        "graph_propagation_seconds": "Microsoft Graph did not yet accept casportal's access "
        "(Microsoft answered InvalidAuthenticationToken)",
    }[phase]
    assert f"at the last check, {still}." in attempt.error
    assert still in status_page(driver, response)
    assert_nothing_bound(cast)
    assert not ProtectedService.objects.filter(status=ServiceStatus.ACCESS_TOKEN_INVALID).exists()


def test_checks_back_off_and_the_last_one_comes_at_the_deadline(driver, propagating):  # noqa: ARG001
    assert (settings.GRANT_ACCESS_RETRY_SECONDS, settings.GRANT_ACCESS_RETRY_MAX_SECONDS) == (5, 30)
    driver.grant()
    assert driver.tasks.pending[0][0].countdown == 5
    pauses = []
    for seconds in (10, 20, 50, 117):
        waited(seconds)
        pauses.append(next_check(driver))
    assert pauses[0] == pytest.approx(10, abs=1)
    assert pauses[1] == pytest.approx(20, abs=1)
    assert pauses[2] == 30  # the cap
    assert pauses[3] == pytest.approx(3, abs=1)  # what is left of the budget


def test_a_disabled_application_is_no_propagation_and_ends_the_grant_at_once(cast, driver, propagating):  # noqa: ARG001
    response = driver.grant()
    consented_ago(601)  # the token endpoint knows the service principal: it answers that it is disabled
    sim.set_service_principal_enabled(ServicePrincipal.objects.get(), False)
    assert next_check(driver) is None
    attempt = GrantAttempt.objects.get()
    assert attempt.step == GrantStep.REFUSED
    assert attempt.error.startswith("Microsoft refused casportal's access to your Microsoft 365 tenant: AADSTS7000112")
    assert "enabled for users to sign in" in status_page(driver, response)
    assert_nothing_bound(cast)


@pytest.mark.parametrize("code", [7000229, 700016])
def test_both_codes_for_a_missing_service_principal_mean_still_propagating(code):
    answer = errors.ServicePrincipalMissing(f"AADSTS{code}: not found", code=code)
    assert waiting.still_propagating(answer) == waiting.WaitStep.SERVICE_PRINCIPAL


def test_the_progress_page_counts_the_wait_for_microsoft_in_the_time_elapsed(cast, driver, propagating):  # noqa: ARG001
    driver.grant()
    waited(42.5)
    consented_ago(1801)  # every phase is over: the next check finds access
    next_check(driver)
    driver.tasks.run()
    progress = reverse("sync_progress", args=[driver.org, "exchange-online"])
    page = html.unescape(page_text(driver.portal("get", progress)))
    assert "Successfully created a service account and synced data." in page
    match = re.search(
        r"Time elapsed: (\d+) s — (\d+) s waiting for Microsoft to activate the permissions, "
        r"then ([\d.]+) s for the synchronization\.",
        page,
    )
    assert match is not None, page
    total, waited_seconds, syncing = int(match.group(1)), int(match.group(2)), float(match.group(3))
    assert waited_seconds in (42, 43)
    assert total in (int(waited_seconds + syncing), int(waited_seconds + syncing) + 1)
