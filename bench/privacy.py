"""Issue 22's costs: sealing sensitive answers on the registration path, the retention run,
and `portal data rekey`.

    .venv/bin/python bench/privacy.py [--engine sqlite|postgresql] [--count 300] [--registrations 20000]

Data: common.build_dataset (400 events, `--registrations` confirmed registrations; the first
200 events are in the past). Three measurements, each in the same run:

1. Registration, one after another, through the form's own call
   (limits.register_within_limits), alternating between two events with the same form of six
   text questions: on one the questions are plain, on the other two of them are sensitive
   (sealed with Fernet). The ratio is what sealing adds to the write lock's time.
2. The retention run over every past event (a period of one day, so everything ended is
   due), in its batches of 200: per registration anonymised; then the run that finds nothing.
3. `portal data rekey`'s batches over registrations sealed with an older key: per
   registration re-sealed; then the run that finds everything already under the newest key.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from sqlalchemy import func, select, update

from portal.datakeys import rekey_batch
from portal.db import make_engine, make_session_factory, run_unit_of_work
from portal.models import Event, Registration
from portal.questions.schema import parse_form
from portal.questions.store import Owner, save_form
from portal.registrations import limits
from portal.registrations.limits import RegistrationLimits
from portal.registrations.participants import Submission
from portal.registrations.retention import due_counts, run_retention
from portal.sealing import Keyring, new_key
from portal.site import Site
from portal.text import Period

from common import RESULTS, build_dataset, make_database

PLAIN, SEALED = "event-350", "event-351"  # both ahead (build_dataset: day i % 700 - 200)


def questions(sensitive: bool) -> list[dict]:
    return [
        {"key": f"q{n}", "type": "text", "label": f"Question {n}", "sensitive": sensitive and n in (2, 4)}
        for n in range(6)
    ]


def register(factory, site: Site, slug: str, n: int) -> float:
    submission = Submission(
        name=f"Bench {n}", email=f"bench{n}@example.org", organisation="Bench",
        answers={f"q{k}": f"Answer {k}: K{n:07d}X" for k in range(6)},
    )
    began = time.perf_counter()
    run_unit_of_work(factory, limits.register_within_limits, site, slug, submission, "192.0.2.1", RegistrationLimits(per_ip=0, per_email=0))
    return (time.perf_counter() - began) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--count", type=int, default=300, help="registrations on each of the two events")
    parser.add_argument("--registrations", type=int, default=20_000)
    args = parser.parse_args()

    url, remove = make_database(args.engine)
    old_key, new = new_key(), new_key()
    try:
        build_dataset(url, events=400, registrations=args.registrations)
        engine = make_engine(url)
        factory = make_session_factory(engine, keyring=Keyring((old_key,)), upload_directory=RESULTS / "uploads")
        with engine.begin() as conn:
            conn.execute(update(Event).where(Event.slug.in_((PLAIN, SEALED))).values(capacity=None))
        with factory.begin() as session:
            for slug, sensitive in ((PLAIN, False), (SEALED, True)):
                event = session.scalar(select(Event).where(Event.slug == slug))
                save_form(session, None, Owner(event_id=event.id), parse_form(questions(sensitive)))
        site = Site()
        for n in range(40):  # warm-up: imports, templates, the forms' definitions
            register(factory, site, (PLAIN, SEALED)[n % 2], 1_000_000 + n)
        plain, sealed = [], []
        for n in range(args.count):  # alternating, so that both see the same database and machine
            plain.append(register(factory, site, PLAIN, 2 * n))
            sealed.append(register(factory, site, SEALED, 2 * n + 1))

        # Retention: everything that ended more than a day ago (the 200 past events).
        due = sum(d.count for d in run_unit_of_work(factory, due_counts, None, Period(days=1), write=False))
        began = time.perf_counter()
        run = run_retention(factory, Period(days=1), RESULTS / "uploads")
        retention_s = time.perf_counter() - began
        began = time.perf_counter()
        again = run_retention(factory, Period(days=1), RESULTS / "uploads")
        nothing_ms = (time.perf_counter() - began) * 1000

        # Rekey: the sealed registrations (args.count + warm-up) from the old key to the new.
        rotated = make_session_factory(engine, keyring=Keyring((new, old_key)))
        timings = []
        for _ in range(2):
            began = time.perf_counter()
            total, after = 0, 0
            while after is not None:
                done, after = run_unit_of_work(rotated, rekey_batch, after_id=after)
                total += done.answers
            timings.append((total, time.perf_counter() - began))
        with engine.connect() as conn:
            held = conn.scalar(select(func.count()).select_from(Registration).where(Registration.sealed_answers.is_not(None)))
        engine.dispose()
    finally:
        remove()

    p_med, s_med = statistics.median(plain), statistics.median(sealed)
    print(f"{args.engine}, 400 events, {args.registrations:,} registrations (Python {sys.version.split()[0]})")
    print(f"registration, six text questions, {args.count} each, alternating:")
    print(f"  plain:               median {p_med:.2f} ms")
    print(f"  two sealed (Fernet): median {s_med:.2f} ms  ratio {s_med / p_med:.2f}")
    print(f"retention run: {run.total:,} of {due:,} due anonymised in {retention_s:.2f} s "
          f"({retention_s * 1000 / max(run.total, 1):.3f} ms each, batches of 200); nothing left: {nothing_ms:.1f} ms ({again.total} more)")
    (first, first_s), (second, second_s) = timings
    print(f"rekey: {first} of {held} sealed registrations re-sealed in {first_s * 1000:.0f} ms "
          f"({first_s * 1000 / max(first, 1):.3f} ms each); again, all under the newest key: {second} in {second_s * 1000:.0f} ms")


if __name__ == "__main__":
    main()
