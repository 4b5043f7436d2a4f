"""Support sees coverage in Django admin, read-only: each service's summary and each object's state, filtered by
state and service and searched by name or organization; nothing there writes."""

from dataclasses import dataclass

import pytest
from django.urls import reverse

from coverage import services
from coverage.models import CoverageState, ObjectCoverage, ServiceCoverage
from coverage.services import Check
from organizations.models import ProtectedService, ServiceKind
from support.staff import READ_ONLY_GROUP
from tests.admin.staff import mfa_client, staff_user
from tests.coverage.test_pages import TENANT, every_mailbox, granted, verified

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


@dataclass(frozen=True)
class Found:
    exchange: ProtectedService
    gone: str  # a user without a mailbox
    refused: str  # a user an access policy keeps from casportal


@pytest.fixture
def coverage(cast, driver, m365sim) -> Found:
    """Contoso's Exchange Online verified (one mailbox missing, one refused by a policy); Fabrikam's one team."""
    upns = every_mailbox(m365sim)
    m365sim.set_mailbox(TENANT, upns[0], "none")
    group = m365sim.directory(TENANT, "add_group", display_name="Not scanned", mail_enabled=True)
    m365sim.directory(TENANT, "add_member", group=group["id"], user=upns[1])
    m365sim.apply_access_policy(TENANT, group["id"], "DenyAccess", delay_seconds=0)
    exchange = granted(driver, cast)
    verified(driver, exchange)
    teams = ProtectedService.objects.get(organization=cast.outsider.organization, kind=ServiceKind.TEAMS)
    services.record_checks(teams, [Check("team-1", "Fabrikam Sales", CoverageState.COVERED)])
    services.summarize(teams)
    return Found(exchange, upns[0], upns[1])


@pytest.fixture
def reader(db):  # noqa: ARG001 (needed for its side effect: fixtures cannot take usefixtures)
    return mfa_client(staff_user("support-reader@casportal.test", group=READ_ONLY_GROUP))


@pytest.fixture
def superuser(db):  # noqa: ARG001 (needed for its side effect: fixtures cannot take usefixtures)
    return mfa_client(staff_user("root@casportal.test", superuser=True))


def names_on(response) -> list[str]:
    return [row.name for row in response.context["cl"].result_list]


def test_read_only_support_lists_each_objects_state_filtered_and_searched(coverage, reader):
    url = reverse("admin:coverage_objectcoverage_changelist")
    listed = reader.get(url)
    assert listed.status_code == 200
    assert sorted(names_on(listed)) == sorted(ObjectCoverage.objects.values_list("name", flat=True))
    assert "Fabrikam Sales" in names_on(listed)
    assert names_on(reader.get(url, {"state": CoverageState.POLICY_REFUSED})) == [coverage.refused]
    assert coverage.gone in names_on(reader.get(url, {"state": CoverageState.NO_MAILBOX}))
    assert names_on(reader.get(url, {"service__kind": ServiceKind.TEAMS})) == ["Fabrikam Sales"]
    assert names_on(reader.get(url, {"q": coverage.gone.split("@")[0]})) == [coverage.gone]
    assert names_on(reader.get(url, {"q": "Fabrikam"})) == ["Fabrikam Sales"]


def test_read_only_support_sees_each_services_summary_and_the_drops(cast, coverage, reader):
    url = reverse("admin:coverage_servicecoverage_changelist")
    page = reader.get(url)
    assert page.status_code == 200
    exchange = ServiceCoverage.objects.get(service=coverage.exchange)
    assert exchange.in_scope > exchange.covered > 0
    summaries = page.context["cl"].result_list
    assert sorted((s.organization.name, s.covered, s.in_scope) for s in summaries) == sorted(
        [("Contoso", exchange.covered, exchange.in_scope), (cast.outsider.organization.name, 1, 1)]
    )
    assert list(reader.get(url, {"dropped": "yes"}).context["cl"].result_list) == []
    searched = reader.get(url, {"q": "contoso"}).context["cl"].result_list
    assert [s.organization.name for s in searched] == ["Contoso"]
    detail = reader.get(reverse("admin:coverage_servicecoverage_change", args=[exchange.pk]))
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()


def test_nothing_in_coverage_admin_writes_not_even_for_a_superuser(coverage, reader, superuser):
    row = ObjectCoverage.objects.get(name=coverage.gone)
    summary = ServiceCoverage.objects.get(service=coverage.exchange)
    covered = summary.covered
    for client in (reader, superuser):
        change = reverse("admin:coverage_objectcoverage_change", args=[row.pk])
        assert client.post(change, {"state": CoverageState.COVERED, "name": row.name}).status_code == 403
        assert client.get(reverse("admin:coverage_objectcoverage_add")).status_code == 403
        assert client.get(reverse("admin:coverage_servicecoverage_add")).status_code == 403
        summary_change = reverse("admin:coverage_servicecoverage_change", args=[summary.pk])
        assert client.post(summary_change, {"covered": 0, "in_scope": 0}).status_code == 403
        delete = reverse("admin:coverage_objectcoverage_delete", args=[row.pk])
        assert client.post(delete, {"post": "yes"}).status_code == 403
    row.refresh_from_db()
    assert row.state == CoverageState.NO_MAILBOX
    assert ServiceCoverage.objects.get(pk=summary.pk).covered == covered
