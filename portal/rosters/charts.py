"""The geometry of the back office's charts, drawn as SVG on the server (no script, no inline
style): an event's registrations per day with their running total against its capacity, and
the dashboard's seats filled per upcoming event. Pure functions of numbers already counted
(numbers.py, the dashboard's counts); templates/admin/_charts.html writes the elements.

Counted are registrations made, cancelled ones included (a day's count does not change when
someone cancels later); how many are confirmed now is shown beside them, in words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from math import ceil

from portal.rosters.numbers import Chart
from portal.templating import plural

# The event chart's viewBox, in its own units (the SVG is as wide as its box; text scales).
WIDTH, HEIGHT = 640, 340
LEFT, RIGHT = 52, 628  # the plot's x range; the y axes' values sit left of LEFT
TOTAL_TOP, TOTAL_BOTTOM = 40, 176  # the running total and capacity
DAILY_TOP, DAILY_BOTTOM = 222, 296  # the bars per day (or week)
LABEL_Y = 322  # the dates under the bars
MOST_LABELS = 6  # dates written under the axis, so that they never overlap at 390 px
MOST_VALUES = 31  # bars up to this many carry their value above them; more, in <title> only
DENSE = 12  # more bars than this: a phone's larger text leaves no room for their values


def nice_step(top: int, most: int = 5) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, … that reaches `top` in at most `most` steps."""
    magnitude = 1
    while True:
        for m in (1, 2, 5):
            if ceil(top / (m * magnitude)) <= most:
                return m * magnitude
        magnitude *= 10


def ticks(top: int, most: int = 5) -> list[int]:
    """Whole-number ticks from 0 to the first at or above `top`, evenly spaced."""
    top = max(top, 1)
    step = nice_step(top, most)
    return [i * step for i in range(ceil(top / step) + 1)]


def y_of(value: float, top: int, y_top: float, y_bottom: float) -> float:
    """Where `value` goes on an axis from 0 (at y_bottom) to `top` (at y_top)."""
    return round(y_bottom - value / max(top, 1) * (y_bottom - y_top), 1)


def label_step(n: int, most: int = MOST_LABELS) -> int:
    """Write every k-th date of n, so that at most `most` are written."""
    return max(1, ceil(n / most))


def running_totals(counts: list[int]) -> list[int]:
    totals, total = [], 0
    for n in counts:
        total += n
        totals.append(total)
    return totals


def reached_on(buckets: list[tuple[date, int]], capacity: int | None) -> date | None:
    """The first day (or week) the registrations made reached `capacity`, if they did."""
    if not capacity:
        return None
    for (day, _), total in zip(buckets, running_totals([n for _, n in buckets]), strict=True):
        if total >= capacity:
            return day
    return None


def short_date(d: date) -> str:
    return d.strftime("%-d %b")


def long_date(d: date, unit: str = "day") -> str:
    return ("Week of " if unit == "week" else "") + d.strftime("%a %-d %b %Y" if unit == "day" else "%-d %b %Y")


@dataclass(frozen=True)
class Tick:
    y: float
    value: int


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    when: str  # the day (or week) in words, for the table and the tooltip
    count: int
    total: int  # registrations made up to and including this bar
    label: str | None  # the date written under the axis, on every k-th bar only
    anchor: str = "middle"  # where the date hangs from the bar's middle: "end" near the right edge

    @property
    def middle(self) -> float:
        return round(self.x + self.width / 2, 1)


@dataclass(frozen=True)
class EventChart:
    unit: str  # "day" or "week"
    bars: list[Bar]
    total_ticks: list[Tick]
    daily_ticks: list[Tick]
    line: str  # the running total's polyline points
    capacity: int | None
    capacity_y: float | None
    confirmed: int
    summary: str  # the chart in words: its <desc>, and the sentence under it
    show_values: bool
    dense: bool  # too many bars for their values on a phone: those stay in the tooltips and table

    @property
    def total(self) -> int:
        return self.bars[-1].total if self.bars else 0


def describe(chart: Chart, capacity: int | None, confirmed: int) -> str:
    """The chart in words, e.g. "212 registrations over 34 days; 40 seats; registrations made
    reached the 40 seats on 3 Mar 2027; 38 confirmed now."."""
    if not chart.buckets:
        words = ["No registrations yet"]
    else:
        words = [f"{plural(chart.total, 'registration')} over {plural(len(chart.buckets), chart.unit)}"]
        if chart.unit == "week":
            words[0] += " (counted per week over a long run)"
    if capacity is None:
        words.append("no limit on seats, so no capacity line")
    else:
        words.append(plural(capacity, "seat"))
        full = reached_on(chart.buckets, capacity)
        if full is not None:
            words.append(f"registrations made reached the {plural(capacity, 'seat')} "
                         f"{'in the week of' if chart.unit == 'week' else 'on'} {full.strftime('%-d %b %Y')}")
    words.append(f"{confirmed} confirmed now (cancelled registrations are counted on the day they were made)")
    return "; ".join(words) + "."


def event_chart(chart: Chart, capacity: int | None, confirmed: int) -> EventChart:
    """The event chart's geometry: bars per day below, the running total and capacity above,
    sharing the x axis."""
    counts = [n for _, n in chart.buckets]
    totals = running_totals(counts)
    n = len(counts)
    slot = (RIGHT - LEFT) / max(n, 1)
    gap = min(slot * 0.2, 4)
    daily = ticks(chart.peak, 3)
    total = ticks(max(chart.total, capacity or 0), 5)
    every = label_step(n)
    bars = []
    for i, ((day, count), running) in enumerate(zip(chart.buckets, totals, strict=True)):
        y = y_of(count, daily[-1], DAILY_TOP, DAILY_BOTTOM)
        bars.append(Bar(
            round(LEFT + i * slot + gap / 2, 1), y, round(slot - gap, 1), round(DAILY_BOTTOM - y, 1),
            long_date(day, chart.unit), count, running, short_date(day) if i % every == 0 else None,
            "end" if LEFT + (i + 0.5) * slot > RIGHT - 40 else "middle",
        ))
    # The line runs through the middle of each bar's slot, from zero before the first.
    points = [(LEFT, TOTAL_BOTTOM)] + [
        (round(LEFT + (i + 0.5) * slot, 1), y_of(t, total[-1], TOTAL_TOP, TOTAL_BOTTOM)) for i, t in enumerate(totals)
    ]
    return EventChart(
        chart.unit, bars,
        [Tick(y_of(v, total[-1], TOTAL_TOP, TOTAL_BOTTOM), v) for v in total],
        [Tick(y_of(v, daily[-1], DAILY_TOP, DAILY_BOTTOM), v) for v in daily],
        " ".join(f"{x},{y}" for x, y in points),
        capacity, None if capacity is None else y_of(capacity, total[-1], TOTAL_TOP, TOTAL_BOTTOM),
        confirmed, describe(chart, capacity, confirmed), n <= MOST_VALUES, n > DENSE,
    )


# The dashboard's bars: one per upcoming event, in a viewBox of BAR_WIDTH by BAR_HEIGHT.
BAR_WIDTH, BAR_HEIGHT = 300, 20


@dataclass(frozen=True)
class SeatBar:
    key: str  # the event's slug: unique, for the ids of the bar's title and description
    title: str
    made: int  # registrations made, whatever became of them
    confirmed: int
    capacity: int | None
    made_width: float
    confirmed_width: float
    summary: str


def seat_bars(events: list[tuple[str, str, int, int, int | None]]) -> list[SeatBar]:
    """(slug, title, registrations made, confirmed, capacity) → one bar each: confirmed over
    registrations made, against capacity. Events with no limit share one scale, their largest
    number of registrations made."""
    unlimited_top = max((made for _, _, made, _, cap in events if cap is None), default=0)
    bars = []
    for slug, title, made, confirmed, capacity in events:
        top = max(made, capacity) if capacity is not None else unlimited_top
        seats = f"{confirmed} confirmed, no limit on seats" if capacity is None else f"{confirmed} of {plural(capacity, 'seat')} confirmed"
        summary = f"{title}: {seats}; {plural(made, 'registration')} made"
        bars.append(SeatBar(
            slug, title, made, confirmed, capacity,
            round(made / max(top, 1) * BAR_WIDTH, 1), round(confirmed / max(top, 1) * BAR_WIDTH, 1), summary + ".",
        ))
    return bars
