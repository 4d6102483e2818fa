"""The charts' geometry: ticks, scales, sparse date labels, the running total, the words."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from portal.rosters import charts
from portal.rosters.numbers import Chart

D0 = date(2027, 3, 1)


def days(*counts: int, unit: str = "day") -> Chart:
    step = timedelta(days=7 if unit == "week" else 1)
    return Chart(unit, [(D0 + i * step, n) for i, n in enumerate(counts)])


@pytest.mark.parametrize(("top", "most", "expected"), [
    (0, 5, [0, 1]),
    (1, 5, [0, 1]),
    (3, 5, [0, 1, 2, 3]),
    (7, 5, [0, 2, 4, 6, 8]),
    (40, 5, [0, 10, 20, 30, 40]),
    (212, 5, [0, 50, 100, 150, 200, 250]),
    (9, 3, [0, 5, 10]),
    (1001, 5, [0, 500, 1000, 1500]),
])
def test_ticks_are_round_numbers_from_zero_to_the_top_or_just_past_it(top, most, expected):
    assert charts.ticks(top, most) == expected


def test_a_value_is_placed_between_the_axis_ends():
    assert charts.y_of(0, 40, 20, 180) == 180
    assert charts.y_of(40, 40, 20, 180) == 20
    assert charts.y_of(10, 40, 20, 180) == 140
    assert charts.y_of(0, 0, 20, 180) == 180  # an empty axis does not divide by zero


@pytest.mark.parametrize(("n", "step"), [(1, 1), (6, 1), (7, 2), (34, 6), (120, 20)])
def test_dates_are_written_sparsely(n, step):
    assert charts.label_step(n) == step
    g = charts.event_chart(days(*([1] * n)), None, 0)
    labels = [b.label for b in g.bars if b.label]
    assert len(labels) <= charts.MOST_LABELS and labels[0] == "1 Mar"


def test_the_running_total_meets_the_capacity_line_on_the_day_it_reached_it():
    g = charts.event_chart(days(10, 0, 25, 8), 40, 38)
    assert [b.total for b in g.bars] == [10, 10, 35, 43]
    assert [t.value for t in g.total_ticks] == [0, 10, 20, 30, 40, 50]
    last_point = g.line.split()[-1]
    assert float(last_point.split(",")[1]) < g.capacity_y  # above the line: drawn higher up
    assert [t.value for t in g.daily_ticks] == [0, 10, 20, 30]
    tallest = max(g.bars, key=lambda b: b.count)
    assert tallest.y == charts.y_of(25, 30, charts.DAILY_TOP, charts.DAILY_BOTTOM) and tallest.count == 25
    assert g.bars[1].height == 0
    assert g.summary == (
        "43 registrations over 4 days; 40 seats; registrations made reached the 40 seats on 4 Mar 2027; "
        "38 confirmed now (cancelled registrations are counted on the day they were made)."
    )
    assert g.show_values


def test_bars_share_the_width_without_overlapping():
    g = charts.event_chart(days(*range(50)), 10, 3)
    for a, b in zip(g.bars, g.bars[1:]):
        assert a.x + a.width <= b.x
    assert g.bars[0].x >= charts.LEFT and g.bars[-1].x + g.bars[-1].width <= charts.RIGHT + 0.1
    assert not g.show_values  # fifty values would collide: they stay in the tooltips and the table


def test_no_registrations_yet():
    g = charts.event_chart(Chart("day", []), 40, 0)
    assert g.bars == [] and g.total == 0
    assert g.summary.startswith("No registrations yet; 40 seats; 0 confirmed now")


def test_one_day_only_and_unlimited_capacity():
    g = charts.event_chart(days(1), None, 1)
    assert len(g.bars) == 1 and g.capacity_y is None
    assert g.summary.startswith("1 registration over 1 day; no limit on seats, so no capacity line; 1 confirmed now")


def test_a_long_run_is_counted_per_week_and_says_so():
    g = charts.event_chart(days(3, 4, unit="week"), 5, 2)
    assert g.bars[0].when == "Week of 1 Mar 2027"
    assert "7 registrations over 2 weeks (counted per week over a long run)" in g.summary
    assert "reached the 5 seats in the week of 8 Mar 2027" in g.summary


def test_seat_bars_fill_confirmed_over_made_against_capacity():
    full, half, open_a, open_b = charts.seat_bars([
        ("a", "A", 50, 40, 40), ("b", "B", 10, 5, 20), ("c", "C", 8, 8, None), ("d", "D", 2, 1, None),
    ])
    assert (full.made_width, full.confirmed_width) == (300, 240)  # more made than seats: the scale stretches
    assert (half.made_width, half.confirmed_width) == (150, 75)
    assert (open_a.made_width, open_b.made_width) == (300, 75)  # unlimited events share one scale
    assert half.summary == "B: 5 of 20 seats confirmed; 10 registrations made."
    assert open_b.summary == "D: 1 confirmed, no limit on seats; 2 registrations made."
    empty, = charts.seat_bars([("e", "E", 0, 0, 1)])
    assert "0 of 1 seat confirmed; 0 registrations made" in empty.summary
