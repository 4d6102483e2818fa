"""A third, independent reading of a feed: ical.js, the parser inside Thunderbird and
Nextcloud, run with node on icaljs_read.mjs. `scripts/install test` puts ical.js under
.tools/ (npm package ical.js); a test that needs it fails, saying so, when it is missing."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
ICALJS = ROOT / ".tools" / "icaljs" / "node_modules" / "ical.js" / "dist" / "ical.js"
READER = Path(__file__).with_name("icaljs_read.mjs")


def read_with_icaljs(body: bytes) -> dict[str, Any]:
    """{"method", "name", "events": [{"uid", "summary", "start", "end" (ISO, UTC), "sequence",
    "status", "location", "description", "url", "related": {"uid", "reltype"}, "attendees",
    "occurrences": [{"start", "end"}] (a recurring event's each, expanded; else its one),
    "alarms": [{"action", "trigger", "description"}]}]}"""
    node = shutil.which("node")
    if node is None or not ICALJS.is_file():
        pytest.fail(f"ical.js or node is missing ({ICALJS}): run `./scripts/install test`, which fetches npm package ical.js.")
    done = subprocess.run([node, str(READER), str(ICALJS)], input=body, capture_output=True, timeout=60)
    assert done.returncode == 0, f"ical.js could not read the calendar: {done.stderr.decode(errors='replace')}"
    return json.loads(done.stdout)


def by_uid(reading: dict[str, Any]) -> dict[str, dict[str, Any]]:
    events = reading["events"]
    found = {e["uid"]: e for e in events}
    assert len(found) == len(events), "ical.js read one UID twice"
    return found
