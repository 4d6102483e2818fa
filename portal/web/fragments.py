"""Pieces of a page kept rendered, per process, under everything they are rendered from.

A conference's event page renders its timetable from the database on every change anywhere
on the site (the page cache is keyed on the site's change marker), and most such changes do
not touch the timetable: a registration for another event, a session moved on another day.
Each day of the timetable is kept as HTML under a fingerprint of what it shows (every field
of each session the template reads, its places taken, its speakers, its column), so a day
is rendered again exactly when it would come out different, and the data is still read from
the database each time.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import jinja2
from markupsafe import Markup

from portal.catalogue.agenda import Day, Timetable
from portal.kept import Kept

# A day of the demo conference is about 30 kB: a few MB at most.
MAX_FRAGMENTS = 128


def day_key(day: Day, timetable: Timetable, slug: str) -> Hashable:
    """Everything public/_timetable_day.html reads."""
    return (
        "timetable-day", slug, timetable.timezone, timetable.columns, day.date,
        tuple(entry.fingerprint for slot in day.slots for entry in slot.entries),
    )


timetable_days: Kept[Markup] = Kept(MAX_FRAGMENTS)


def timetable_day_renderer(env: jinja2.Environment) -> Callable[[Day, Timetable, str], Markup]:
    """The template global `timetable_day(day, tt, slug)`: one day of a timetable, kept."""

    def timetable_day(day: Day, timetable: Timetable, slug: str) -> Markup:
        template = env.get_template("public/_timetable_day.html")
        return timetable_days.get_or_make(
            day_key(day, timetable, slug), lambda: Markup(template.render(day=day, tt=timetable, slug=slug))
        )

    return timetable_day
