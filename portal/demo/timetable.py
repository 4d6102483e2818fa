"""The demo conference's programme: ICCS 2027 over three days, 120 sessions in four parallel
rooms (a keynote each morning, breaks and lunch, nine slots of four) and 200 speakers. Made
here rather than written out in demo.json: it is the same import records a conference's own
file would hold, generated so that the timetable is big enough to measure (bench/timetable.py)
and to judge on a phone."""

from __future__ import annotations

from datetime import date
from typing import Any

EVENT = "iccs-2027"
DAYS = (date(2027, 6, 22), date(2027, 6, 23), date(2027, 6, 24))
OFFSET = "+08:00"
ROOMS = ("Auditorium", "Room 2", "Room 3", "Room 4")
TRACKS = ("Faith and identity", "Technology and trust", "Youth and community", "Workshops")
# (start, end, kind or None for a slot of four parallel sessions)
DAY_PLAN = (
    ("09:00", "09:40", "keynote"),
    ("09:45", "10:20", None), ("10:25", "11:00", None),
    ("11:00", "11:15", "break"),
    ("11:15", "11:50", None), ("11:55", "12:30", None),
    ("12:30", "13:30", "meal"),
    ("13:30", "14:05", None), ("14:10", "14:45", None), ("14:50", "15:25", None),
    ("15:25", "15:40", "break"),
    ("15:40", "16:15", None), ("16:20", "16:55", None),
)

_FIRST = (
    "Aisha", "Budi", "Chen", "Dewi", "Eko", "Farah", "Grace", "Hiroshi", "Indra", "Jun", "Kavya", "Lina",
    "Minh", "Nadia", "Omar", "Priya", "Rahul", "Sofia", "Tomas", "Umar",
)
_LAST = ("Rahman", "Santoso", "Wei", "Lestari", "Nguyen", "Tan", "Lim", "Sato", "Kumar", "Park")
_AFFILIATIONS = (
    "RSIS, Nanyang Technological University", "National University of Singapore", "Uppsala University",
    "Universitas Gadjah Mada", "Ateneo de Manila University", "University of Tokyo", "Institute of Policy Studies",
    "Centre for Abrahamic Dialogue", "Interfaith Youth Circle Singapore", "Australian National University",
)
_POSITIONS = ("Professor", "Associate Professor", "Research Fellow", "Senior Fellow", "Director", "Programme Lead")
_TOPICS = (
    "Belonging in plural cities", "Trust after the algorithm", "Young people as bridge-builders", "Faith in public life",
    "Misinformation and community resilience", "Migration and the neighbourhood", "Dialogue across generations",
    "Heritage, memory and identity", "Artificial intelligence and social cohesion", "Sport, arts and shared space",
    "Religious literacy for professionals", "Local leaders in a crisis",
)
_KEYNOTES = ("Cohesion in an age of disruption", "What holds a society together", "Building bridges that last")


def speakers() -> list[dict[str, Any]]:
    """200 speakers, every one with a key, name, affiliation, title and a short bio."""
    made = []
    for i in range(200):
        first, last = _FIRST[i % len(_FIRST)], _LAST[(i // len(_FIRST)) % len(_LAST)]
        position = _POSITIONS[i % len(_POSITIONS)]
        affiliation = _AFFILIATIONS[(i * 7) % len(_AFFILIATIONS)]
        made.append({
            "key": f"{first}-{last}-{i + 1}".lower(),
            "name": f"Dr {first} {last}" if i % 3 == 0 else f"{first} {last}",
            "affiliation": affiliation,
            "title": position,
            "bio": f"{first} {last} is {position.lower()} at {affiliation}, working on social cohesion, "
                   f"faith and public policy in *{('Southeast Asia', 'Europe', 'East Asia')[i % 3]}*.",
        })
    return made


def sessions() -> list[dict[str, Any]]:
    """The 120 sessions of the three days, each with its speakers' keys."""
    people = [s["key"] for s in speakers()]
    made: list[dict[str, Any]] = []
    speaker = 0
    for day_index, day in enumerate(DAYS, start=1):
        slot = 0
        for start, end, kind in DAY_PLAN:
            when = {"starts_at": f"{day.isoformat()}T{start}:00{OFFSET}", "ends_at": f"{day.isoformat()}T{end}:00{OFFSET}"}
            if kind == "keynote":
                made.append({
                    "key": f"day{day_index}-keynote", "title": f"Keynote: {_KEYNOTES[day_index - 1]}", "kind": "keynote",
                    **when, "room": "Auditorium", "track": None, "speakers": [people[(day_index * 61) % 200]],
                    "description": "The day opens in the Auditorium. Seats are not reserved; come early.",
                })
                continue
            if kind in ("break", "meal"):
                title = "Lunch" if kind == "meal" else "Coffee break"
                made.append({"key": f"day{day_index}-{kind}-{start.replace(':', '')}", "title": title, "kind": kind, **when, "room": "Foyer", "track": None})
                continue
            slot += 1
            for room_index, (room, track) in enumerate(zip(ROOMS, TRACKS, strict=True)):
                topic = _TOPICS[(day_index * 9 + slot * 4 + room_index) % len(_TOPICS)]
                workshop = track == "Workshops"
                count = 1 if workshop else 1 + (slot + room_index) % 3
                names = [people[(speaker + n) % 200] for n in range(count)]
                speaker += count
                session: dict[str, Any] = {
                    "key": f"day{day_index}-{slot}{'abcd'[room_index]}",
                    "title": f"{'Workshop' if workshop else ('Panel' if count > 1 else 'Talk')}: {topic}",
                    "kind": "workshop" if workshop else ("panel" if count > 1 else "talk"),
                    **when, "room": room, "track": track, "speakers": names,
                    "description": f"{topic}: research, practice and what works, with time for questions.",
                }
                if workshop:
                    session.update({"choose": True, "places": 30, "waitlist": slot % 2 == 1})
                made.append(session)
    return made


def add_to(data: dict[str, Any]) -> None:
    """Put the conference's speakers and sessions into the demo's import data."""
    data["speakers"] = speakers()
    for event in data["events"]:
        if event["slug"] == EVENT:
            event["sessions"] = sessions()
