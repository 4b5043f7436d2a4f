from datetime import timedelta
from typing import Any

from django import template

from directory import progress
from directory.models import SyncRun

register = template.Library()

TENTHS_BELOW_SECONDS = 10  # short durations keep a decimal: '0.4 s'


@register.filter
def duration(value: timedelta | None) -> str:
    """A short human duration: '0.4 s', '45 s', '3 min 05 s', '1 h 02 min'."""
    if value is None:
        return ""
    if value.total_seconds() < TENTHS_BELOW_SECONDS:
        return f"{max(value.total_seconds(), 0):.1f} s"
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"


@register.filter
def add_durations(value: timedelta, other: timedelta) -> timedelta:
    return value + other


@register.filter
def about(value: timedelta) -> str:
    """An estimate of time left, rounded: 'about 40 s', 'about 2 min 30 s'."""
    return progress.about(value)


@register.filter
def fallback_phrase(reason: str) -> str:
    """Why a delta run became a full one, as a short phrase."""
    return progress.fallback_phrase(reason)


@register.filter
def run_duration(run: SyncRun) -> timedelta | None:
    if run.started_at is None or run.finished_at is None:
        return None
    return run.finished_at - run.started_at


@register.inclusion_tag("directory/_running_sync.html", takes_context=True)
def running_sync(context: template.Context, run: SyncRun | None) -> dict[str, Any]:
    """A running synchronization in a few lines, with its current phase and a link to its progress page:
    `{% running_sync run %}` on any page of the organization (nothing when `run` is None)."""
    described = None
    if run is not None:
        described = progress.describe_progress(
            run, service_name=run.service.get_kind_display() if run.service else "Directory", policy_name=None
        )
    current = next((phase for phase in described.phases if phase.state == "running"), None) if described else None
    return {
        "run": run,
        "progress": described,
        "phase": current,
        "current_organization": context.get("current_organization"),
    }
