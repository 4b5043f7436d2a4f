"""Sync history: a chart with axes, labels and units, in the table's order; numbers with thousands separators; the
kind of a run with its reason as a phrase of its own."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from directory.history import nice_top
from directory.models import SyncKind, SyncRun, SyncStatus, SyncTrigger
from directory.progress import DELTA_LINK_EXPIRED

pytestmark = pytest.mark.django_db


def finished_run(cast, *, minutes_ago: int, added: int, seconds: float, **fields) -> SyncRun:
    start = timezone.now() - timedelta(minutes=minutes_ago)
    run = SyncRun.objects.create(
        organization=cast.organization,
        kind=fields.pop("kind", SyncKind.DELTA),
        trigger=SyncTrigger.MANUAL,
        status=SyncStatus.SUCCEEDED,
        started_at=start,
        finished_at=start + timedelta(seconds=seconds),
        added=added,
        **fields,
    )
    SyncRun.objects.filter(pk=run.pk).update(queued_at=start)
    run.refresh_from_db()
    return run


@pytest.fixture
def history(cast, reader_client) -> str:
    finished_run(cast, minutes_ago=300, added=12_345, seconds=95, kind=SyncKind.FULL, requests=1_234)
    finished_run(cast, minutes_ago=200, added=3, seconds=0.4, kind=SyncKind.FULL, fallback_reason=DELTA_LINK_EXPIRED)
    finished_run(cast, minutes_ago=100, added=0, seconds=1.5)
    response = reader_client.get(reverse("sync_history", args=[cast.organization.slug]))
    assert response.status_code == 200
    return response.content.decode()


def chart_labels(panel: str) -> list[str]:
    return re.findall(r'<text x="0" y="[\d.]+" class="sync-chart-label">([^<]+)</text>', panel)


def panels(page: str) -> list[str]:
    return re.findall(r"<svg class=\"sync-chart\".*?</svg>", page, re.S)


def test_the_chart_lists_the_runs_in_the_tables_order(cast, history):
    table_order = [
        f"{run.queued_at:%m-%d %H:%M:%S}" for run in SyncRun.objects.filter(organization=cast.organization)
    ]  # newest first, as the table
    assert re.findall(r"<td>\d{4}-(\d\d-\d\d \d\d:\d\d:\d\d)</td>", history) == table_order
    objects, seconds = panels(history)
    assert chart_labels(objects) == chart_labels(seconds) == table_order


def test_each_panel_has_an_axis_with_round_ticks_its_unit_and_the_values(history):
    objects, seconds = panels(history)
    assert "Objects written: added, updated and removed" in objects
    assert [tick for tick in re.findall(r'class="sync-chart-tick">([^<]+)<', objects)] == [
        "0",
        "5,000",
        "10,000",
        "15,000",
        "20,000",
    ]
    assert ">12,345</text>" in objects
    assert "Duration, in seconds" in seconds
    for shown in (">95 s</text>", ">0.4 s</text>", ">1.5 s</text>"):
        assert shown in seconds
    assert re.search(r'viewBox="0 0 360 \d+"', objects)


def test_numbers_carry_thousands_separators(history):
    assert '<td class="text-end">12,345</td>' in history
    assert '<td class="text-end">1,234</td>' in history


def test_a_full_run_says_why_in_a_phrase_of_its_own(history):
    assert 'Full <span class="small text-body-secondary">— Microsoft&#x27;s delta token had expired</span>' in history
    assert "(Microsoft" not in history


def test_a_running_run_has_no_bar_yet(cast, reader_client):
    SyncRun.objects.create(organization=cast.organization, kind=SyncKind.DELTA, trigger=SyncTrigger.MANUAL)
    page = reader_client.get(reverse("sync_history", args=[cast.organization.slug])).content.decode()
    objects, _ = panels(page)
    assert 'width="0"' in objects
    assert "not finished" in objects


def test_small_durations_have_ticks_that_differ(cast, reader_client):
    finished_run(cast, minutes_ago=10, added=1, seconds=0.16)
    page = reader_client.get(reverse("sync_history", args=[cast.organization.slug])).content.decode()
    _, seconds = panels(page)
    assert re.findall(r'class="sync-chart-tick">([^<]+)<', seconds) == ["0.00", "0.05", "0.10", "0.15", "0.20"]


@pytest.mark.parametrize(("value", "top"), [(0, 4), (7, 8), (0.4, 0.4), (95, 100), (1234, 2000), (12_345, 20_000)])
def test_the_axis_ends_on_a_round_number(value, top):
    assert nice_top(value) == pytest.approx(top)
