"""The Sync history chart, server-rendered SVG (no JavaScript): one horizontal bar per run, in the table's order
(newest at the top), in two panels, objects synchronized and duration, each with a labelled axis and its unit."""

import math
from dataclasses import dataclass

from directory.models import SyncRun

WIDTH = 360
LABEL_WIDTH = 96  # the run's start, "12-01 14:02:05"
VALUE_WIDTH = 46  # the value after its bar
PLOT_WIDTH = WIDTH - LABEL_WIDTH - VALUE_WIDTH
ROW_HEIGHT = 18
BAR_HEIGHT = 11
TOP = 6
AXIS_HEIGHT = 34  # ticks, their labels and the axis title under the bars
TICKS = 4


@dataclass(frozen=True)
class Row:
    y: int
    label: str
    width: float  # 0 when the run has no value (still running)
    value: str
    title: str

    @property
    def bar_y(self) -> float:
        return self.y + (ROW_HEIGHT - BAR_HEIGHT) / 2

    @property
    def text_y(self) -> float:
        return self.y + ROW_HEIGHT / 2 + 4

    @property
    def value_x(self) -> float:
        return LABEL_WIDTH + self.width + 4


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Panel:
    id: str
    title: str  # the axis title, with its unit
    rows: list[Row]
    ticks: list[Tick]

    width: int = WIDTH
    plot_x: int = LABEL_WIDTH
    plot_width: int = PLOT_WIDTH
    bar_height: int = BAR_HEIGHT

    @property
    def axis_y(self) -> int:
        return TOP + len(self.rows) * ROW_HEIGHT

    @property
    def height(self) -> int:
        return self.axis_y + AXIS_HEIGHT

    @property
    def tick_label_y(self) -> int:
        return self.axis_y + 14

    @property
    def title_y(self) -> int:
        return self.axis_y + 29

    @property
    def title_x(self) -> float:
        return LABEL_WIDTH + PLOT_WIDTH / 2


def nice_top(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten, times TICKS, that is at least `value`: round ticks."""
    if value <= 0:
        return TICKS
    magnitude = 10 ** math.floor(math.log10(value / TICKS))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * magnitude * TICKS >= value:
            return factor * magnitude * TICKS
    raise AssertionError("unreachable")


DECIMALS_BELOW = 10  # '0.4 s', '2.5', but '1,234'
MOST_DECIMALS = 3
SAME = 1e-9  # a rounding that keeps the step


def _number(value: float, decimals: int | None = None) -> str:
    if decimals is None:
        decimals = 0 if value >= DECIMALS_BELOW or value == int(value) else 1
    return f"{value:,.{decimals}f}"


def _decimals(step: float) -> int:
    """As many decimals as the ticks need to differ: 0.05 needs two."""
    return next((d for d in range(MOST_DECIMALS) if abs(round(step, d) - step) < SAME), MOST_DECIMALS)


def _panel(runs: list[SyncRun], values: list[float | None], *, id: str, title: str, unit: str) -> Panel:
    top = nice_top(max((v for v in values if v is not None), default=0))
    rows = [
        Row(
            y=TOP + index * ROW_HEIGHT,
            label=f"{run.queued_at:%m-%d %H:%M:%S}",
            width=0 if value is None else PLOT_WIDTH * value / top,
            value="—" if value is None else f"{_number(value)}{unit}",
            title=f"{run.queued_at:%Y-%m-%d %H:%M:%S} UTC, {run.get_kind_display()}: "
            + ("not finished" if value is None else f"{_number(value)}{unit}"),
        )
        for index, (run, value) in enumerate(zip(runs, values, strict=True))
    ]
    decimals = _decimals(top / TICKS)
    ticks = [
        Tick(LABEL_WIDTH + PLOT_WIDTH * step / TICKS, _number(top * step / TICKS, decimals))
        for step in range(TICKS + 1)
    ]
    return Panel(id=id, title=title, rows=rows, ticks=ticks)


def history_charts(runs: list[SyncRun]) -> list[Panel]:
    """`runs` newest first, as the table lists them."""
    if not runs:
        return []
    objects: list[float | None] = [
        float(run.added + run.updated + run.removed) if run.finished_at else None for run in runs
    ]
    seconds: list[float | None] = [
        max((run.finished_at - run.started_at).total_seconds(), 0.0) if run.finished_at and run.started_at else None
        for run in runs
    ]
    return [
        _panel(runs, objects, id="chart-objects", title="Objects written: added, updated and removed", unit=""),
        _panel(runs, seconds, id="chart-seconds", title="Duration, in seconds", unit=" s"),
    ]
