from datetime import timedelta

from django import template

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
def run_duration(run: SyncRun) -> timedelta | None:
    if run.started_at is None or run.finished_at is None:
        return None
    return run.finished_at - run.started_at
