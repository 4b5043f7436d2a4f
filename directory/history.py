"""A small server-rendered chart of recent sync runs: objects changed and duration per run (no JavaScript)."""

from dataclasses import dataclass

from directory.models import SyncRun

CHART_HEIGHT = 80
BAR_WIDTH = 14
BAR_GAP = 4


@dataclass(frozen=True)
class Bar:
    x: int
    objects_height: int
    seconds_height: int
    title: str

    @property
    def seconds_x(self) -> int:
        return self.x + BAR_WIDTH

    @property
    def objects_y(self) -> int:
        return CHART_HEIGHT - self.objects_height

    @property
    def seconds_y(self) -> int:
        return CHART_HEIGHT - self.seconds_height


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    width: int
    height: int
    max_objects: int
    max_seconds: int
    bar_width: int = BAR_WIDTH


def history_chart(runs: list[SyncRun]) -> Chart:
    """Oldest run on the left; each run two bars scaled to the largest: objects (left), seconds (right)."""
    finished = [run for run in reversed(runs) if run.finished_at and run.started_at]
    objects = [run.users_synced + run.groups_synced + run.removed for run in finished]
    seconds = [max(int((run.finished_at - run.started_at).total_seconds()), 0) for run in finished]  # type: ignore[operator]
    top_objects, top_seconds = max(objects, default=0) or 1, max(seconds, default=0) or 1
    bars = [
        Bar(
            x=index * (2 * BAR_WIDTH + BAR_GAP),
            objects_height=round(CHART_HEIGHT * count / top_objects),
            seconds_height=round(CHART_HEIGHT * duration / top_seconds),
            title=f"{run.queued_at:%Y-%m-%d %H:%M} {run.get_kind_display()}: {count:,} objects in {duration} s",
        )
        for index, (run, count, duration) in enumerate(zip(finished, objects, seconds, strict=True))
    ]
    return Chart(
        bars=bars,
        width=max(len(bars) * (2 * BAR_WIDTH + BAR_GAP), 1),
        height=CHART_HEIGHT,
        max_objects=max(objects, default=0),
        max_seconds=max(seconds, default=0),
    )
