"""Issue 16's registration path in process: how long one registration holds the write lock,
and where that time goes.

    .venv/bin/python bench/register.py [--engine sqlite|postgresql] [--events 2000] [--count 400]

Data: common.build_dataset (`--events` events, 50,000 registrations). One thread registers
`--count` new addresses, one after another, for events with free seats, each through the
same call the registration form makes (limits.register_within_limits in a writing unit of
work, both rate limits on). Nothing else runs, so nobody waits for the lock: each unit of
work's wall time is the time it holds the lock (on SQLite the database's one write lock,
taken at its first statement; on PostgreSQL the event's row lock is held for a little less,
from the event's SELECT ... FOR UPDATE to the commit).

Prints the median and 95th percentile of the unit of work, and a profile of the same
registrations (cProfile, cumulative time per registration of the parts that matter), so
the figures in bench/README.md come with the profile that explains them.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time

from sqlalchemy import select, text

from portal.db import make_engine, make_session_factory, run_unit_of_work
from portal.models import Event
from portal.questions.schema import parse_form
from portal.questions.store import Owner, save_form
from portal.registrations import limits
from portal.registrations.limits import RegistrationLimits
from portal.registrations.participants import Submission
from portal.site import Site

from common import build_dataset, make_database

# The event of a rush: every registration of the default run is for it (its capacity is lifted,
# so that every one is confirmed and carries an .ics, the costliest kind).
RUSHED = "event-300"

# (label, how the function shows in pstats: file fragment, function name)
PARTS = [
    ("rate limits (two upserts, a sweep now and then)", "limits.py", "check_registration"),
    ("the event, locked, with its programme", "lookups.py", "find_event"),
    ("the form read (when it has places or a nominator)", "participants.py", "_rules"),
    ("places checked", "seats.py", "check_places"),
    ("places held", "seats.py", "hold_places"),
    ("the message rendered and queued", "messages.py", "queue_registration_message"),
    ("  of which the three templates", "messages.py", "render"),
    ("  of which the .ics attachment", "messages.py", "calendar_attachment"),
    ("flushes (the registration, the message)", "session.py", "flush"),
    ("commit", "session.py", "commit"),
]


def give_form(factory, count: int) -> dict:
    """A form of `count` questions for the rushed event (every few of them a choice, one with
    places, one conditional), and answers to all of them."""
    questions, answers = [], {}
    for n in range(count):
        key = f"q{n}"
        if n % 5 == 1:
            questions.append({"key": key, "type": "choice", "label": f"Choice {n}", "required": True, "choices": [
                {"value": "a", "label": "A", **({"places": 100_000} if n == 1 else {})}, {"value": "b", "label": "B"}]})
            answers[key] = "a"
        elif n % 5 == 3:
            questions.append({"key": key, "type": "yesno", "label": f"Yes or no {n}"})
            answers[key] = "yes"
        elif n % 5 == 4 and n > 3:
            questions.append({"key": key, "type": "text", "label": f"If yes {n}", "show_if": {f"q{n - 1}": ["yes"]}})
            answers[key] = f"Because {n}"
        else:
            questions.append({"key": key, "type": "text", "label": f"Question {n}", "required": True, "max_length": 200})
            answers[key] = f"Answer {n}"
    with factory.begin() as session:
        event = session.scalar(select(Event).where(Event.slug == RUSHED))
        save_form(session, None, Owner(event_id=event.id), parse_form(questions))
    return answers


def register_many(factory, site: Site, count: int, events: int, start: int, spread: bool, answers: dict | None = None) -> list[float]:
    allow = RegistrationLimits(per_ip=10_000, per_email=5)
    # build_dataset starts event i (i % 700 - 200) days from now: 201..699 are ahead.
    open_events = [i for i in range(events) if i % 700 > 200]
    times = []
    for n in range(count):
        # build_dataset starts event i (i % 700 - 200) days from now: 201..699 are ahead.
        slug = f"event-{open_events[(start + n * 7) % len(open_events)]}" if spread else RUSHED
        submission = Submission(name=f"Bench {start + n}", email=f"bench{start + n}@example.org", organisation="Bench", answers=answers or {})
        began = time.perf_counter()
        run_unit_of_work(factory, limits.register_within_limits, site, slug, submission, "192.0.2.1", allow)
        times.append((time.perf_counter() - began) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--questions", type=int, default=0, help="give the event a form of this many questions (answered)")
    parser.add_argument("--dump", help="also write the profile to this file (for pstats or snakeviz)")
    parser.add_argument("--spread", action="store_true", help="each registration for another event (no warm per-event caches)")
    args = parser.parse_args()

    url, remove = make_database(args.engine)
    try:
        build_dataset(url, events=args.events)
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("UPDATE events SET capacity = NULL WHERE slug = :slug"), {"slug": RUSHED})
        factory = make_session_factory(engine)
        answers = give_form(factory, args.questions) if args.questions else {}
        site = Site()
        start = 0
        register_many(factory, site, 50, args.events, start, args.spread, answers)  # warm-up: imports, templates, caches
        times = register_many(factory, site, args.count, args.events, start + 50, args.spread, answers)
        profiler = cProfile.Profile()
        profiler.enable()
        register_many(factory, site, args.count, args.events, start + 50 + args.count, args.spread, answers)
        profiler.disable()
        if args.dump:
            profiler.dump_stats(args.dump)
        engine.dispose()
    finally:
        remove()

    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    where = "each for another event" if args.spread else "all for one event"
    if args.questions:
        where += f", a form of {args.questions} questions"
    print(f"{args.engine}, {args.events} events, {args.count} registrations one after another, {where} (Python {sys.version.split()[0]})")
    print(f"unit of work (= write lock held on SQLite): median {statistics.median(times):.2f} ms, p95 {p95:.2f} ms")
    print("profile, ms per registration (cProfile adds its own overhead, so compare rows, not totals):")
    stats = pstats.Stats(profiler)
    total = 0.0
    for (file, _line, name), (_cc, _nc, _tt, cumulative, _callers) in stats.stats.items():
        if name == "register_within_limits":
            total = cumulative
    print(f"  {'the whole unit of work':50} {total * 1000 / args.count:6.2f}")
    for label, fragment, function in PARTS:
        spent = sum(
            row[3] for (file, _line, name), row in stats.stats.items() if name == function and file.endswith(fragment)
        )
        print(f"  {label:50} {spent * 1000 / args.count:6.2f}")


if __name__ == "__main__":
    main()
