"""Name badges at conference size: 500 confirmed registrations (target: under 10 s and 200 MB).

Names in the six scripts the issue names, mixed as at an international conference (most in Latin
script, with Vietnamese; one in five in Chinese, Thai, Arabic, Devanagari or Cyrillic), with
organisations in the same scripts and a role line from the form (rank and country). Measured:

- `portal export badges SLUG` as a child process, A4 and single layouts: wall time and peak
  resident memory (ru_maxrss of that child), start-up, the database read and the fonts included;
- badges_pdf alone, in this process (median of --repeat, after one discarded run that reads the
  fonts): wall and CPU time.

    .venv/bin/python bench/badges.py [--badges 500] [--repeat 3] [--engine sqlite|postgresql]

Prints the figures; the README's table is written by hand from them.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import insert

from portal import migrate
from portal.db import make_engine
from portal.documents.badges import Badge, badges_pdf
from portal.documents.tickets import new_code, payload
from portal.models import Event, Questionnaire, Registration

from common import make_database

PORTAL = Path(sys.executable).with_name("portal")
SLUG = "badges-bench"
TITLE = "Asia-Pacific Programme for Senior Military Officers 2026"
LATIN = ["Nguyễn Thị Minh Khai", "Aisha Rahman", "Budi Santoso", "Chen Wei Ling", "Maria del Carmen Fernández",
         "Hiroshi Sato", "Priya Kumar", "Siti Nurhaliza binti Ibrahim", "Jean-Baptiste Dupont", "Zoë Ødegård"]
OTHERS = ["王小明", "สมชาย ใจดี", "محمد بن سلمان", "अनिल कुमार", "Александр Пушкин"]
ORGS = ["Ministry of Defence", "Đại học Quốc gia Hà Nội", "清华大学", "จุฬาลงกรณ์มหาวิทยาลัย", "جامعة الملك سعود",
        "दिल्ली विश्वविद्यालय", "МГИМО", "S. Rajaratnam School of International Studies"]
RANKS = ["Colonel", "Brigadier-General", "Rear-Admiral", "Captain (Navy)", "Major-General"]
COUNTRIES = ["Singapore", "Viet Nam", "China", "Thailand", "Saudi Arabia", "India", "Russia", "Indonesia"]
FORM = [
    {"key": "rank", "type": "text", "label": "Rank", "max_length": 100},
    {"key": "country", "type": "country", "label": "Country"},
]


def people(n: int) -> list[tuple[str, str, str, str]]:
    """(name, organisation, rank, country) for n people, the same every run."""
    rng = random.Random(n)
    return [
        (OTHERS[i // 5 % len(OTHERS)] if i % 5 == 0 else rng.choice(LATIN), rng.choice(ORGS), rng.choice(RANKS), rng.choice(COUNTRIES))
        for i in range(n)
    ]


def fill(url: str, n: int) -> None:
    migrate.upgrade(url)
    engine = make_engine(url)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    with engine.begin() as conn:
        event_id = conn.execute(insert(Event).returning(Event.id), {
            "uid": f"{SLUG}@portal", "slug": SLUG, "title": TITLE, "category": "course",
            "starts_at": now + timedelta(days=30), "ends_at": now + timedelta(days=34), "timezone": "Asia/Singapore",
            "all_day": False, "venue": "RSIS", "address": "", "capacity": None, "waitlist": False, "status": "published",
            "description": "", "speakers": [], "sequence": 0, "published_at": now, "created_at": now, "updated_at": now,
        }).scalar_one()
        conn.execute(insert(Questionnaire), {"event_id": event_id, "questions": FORM, "organisation_required": False,
                                             "version": 1, "created_at": now, "updated_at": now})
        conn.execute(insert(Registration), [
            {"event_id": event_id, "email": f"p{i}@example.org", "name": name, "organisation": org,
             "answers": {"rank": rank, "country": country}, "status": "confirmed", "token": secrets.token_urlsafe(32),
             "checkin_code": new_code(), "consented_at": now, "confirmed_at": now, "created_at": now, "updated_at": now}
            for i, (name, org, rank, country) in enumerate(people(n))
        ])
    engine.dispose()


def export(url: str, layout: str, workdir: Path) -> tuple[float, float, int]:
    """`portal export badges` in a child process: (seconds, peak MB, bytes written)."""
    out = workdir / f"badges-{layout}.pdf"
    probe = (
        "import resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        "subprocess.run(sys.argv[1:], check=True, stderr=subprocess.DEVNULL)\n"
        "wall = time.perf_counter() - start\n"
        "print(wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    env = {**os.environ, "PORTAL_DATABASE_URL": url, "PORTAL_SECRET_KEY": "bench"}
    result = subprocess.run(
        [sys.executable, "-c", probe, str(PORTAL), "export", "badges", SLUG, "--layout", layout, "-o", str(out)],
        env=env, cwd=workdir, check=True, capture_output=True, text=True,
    )
    wall, maxrss_kb = result.stdout.split()
    return float(wall), int(maxrss_kb) / 1024, out.stat().st_size


def in_process(n: int, repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of badges_pdf for n badges (A4), after one run discarded."""
    badges = [Badge(name, org, f"{rank} · {country}", TITLE, payload(new_code())) for name, org, rank, country in people(n)]
    badges_pdf(badges)
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        badges_pdf(badges)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--badges", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}")
    url, remove = make_database(args.engine)
    try:
        fill(url, args.badges)
        with tempfile.TemporaryDirectory() as tmp:
            for layout in ("a4", "single"):
                wall, peak, size = export(url, layout, Path(tmp))
                print(f"portal export badges --layout {layout}: {args.badges} badges in {wall:.2f} s, peak {peak:.0f} MB, {size / 1e6:.2f} MB PDF")
    finally:
        remove()
    wall, cpu = in_process(args.badges, args.repeat)
    print(f"badges_pdf in process (A4, median of {args.repeat}): {wall:.2f} s wall, {cpu:.2f} s CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
