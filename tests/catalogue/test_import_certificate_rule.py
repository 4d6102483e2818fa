"""The import file's `certificate_rule` on an event: {"days": n} or {"share": s} of the event's
days, or null for every day; left alone when the record does not mention it; refused, naming
the record and the key, when wrong, and then nothing changes."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from portal.catalogue.imports import import_data
from portal.errors import ImportProblem
from portal.models import Event

SLUG = "tatc-2027-03"


def event_record(**extra: Any) -> dict[str, Any]:
    """A course of five days, Mon 8 to Fri 12 March 2027."""
    return {
        "slug": SLUG, "title": "TATC March 2027", "status": "published", "category": "course",
        "starts_at": "2027-03-08T09:00:00+08:00", "ends_at": "2027-03-12T17:00:00+08:00", **extra,
    }


def stored(sessions) -> Any:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return session.scalar(select(Event.certificate_rule).where(Event.slug == SLUG))


@pytest.fixture
def imported(run, sessions):  # type: ignore[no-untyped-def]
    """imported(**event fields) -> the event's certificate rule after importing it."""

    def _import(**extra: Any) -> Any:
        run(import_data, {"events": [event_record(**extra)]})
        return stored(sessions)

    return _import


def test_a_rule_is_stored_and_kept_when_the_record_leaves_it_out(imported):
    assert imported() is None  # a new event: every day
    assert imported(certificate_rule={"days": 3}) == {"days": 3}
    assert imported() == {"days": 3}  # not mentioned: kept
    assert imported(certificate_rule={"share": 0.8}) == {"share": 0.8}
    assert imported(certificate_rule={"share": 1}) == {"share": 1.0}
    assert imported(certificate_rule=None) is None  # null: every day again


def test_importing_the_same_rule_again_changes_nothing(run, imported):
    imported(certificate_rule={"share": 0.6})
    report = run(import_data, {"events": [event_record(certificate_rule={"share": 0.6})]})
    assert report.events_updated == 0


@pytest.mark.parametrize(("rule", "words"), [
    ({"days": 6}, "certificate_rule: days must be from 1 to 5, the number of days the event has (got 6)"),
    ({"days": 0}, "certificate_rule: days must be from 1 to 5"),
    ({"days": "3"}, "certificate_rule: days must be a whole number from 1 to 5"),
    ({"share": 80}, "certificate_rule: share must be a number from 0.01 to 1 (1% to 100% of the days), got 80"),
    ({"share": 0}, "certificate_rule: share must be a number from 0.01 to 1"),
    ({"days": 2, "share": 0.5}, 'certificate_rule: give one of "days" and "share"'),
    ({"percent": 80}, "certificate_rule: unknown key 'percent'"),
    ("all", 'certificate_rule: must be {"days": n}, {"share": 0.8} or null (every day)'),
])
def test_a_bad_rule_is_refused_naming_the_record_and_nothing_changes(run, sessions, imported, rule, words):
    imported(certificate_rule={"days": 2})
    with pytest.raises(ImportProblem) as caught:
        run(import_data, {"events": [event_record(certificate_rule=rule, title="Renamed")]})
    assert caught.value.message.startswith(f"events[0] (slug '{SLUG}'): {words}")
    assert stored(sessions) == {"days": 2}
    with sessions() as session:
        assert session.scalar(select(Event.title).where(Event.slug == SLUG)) == "TATC March 2027"


def test_the_days_counted_are_the_event_s_own(run, imported):
    # 23:00 to 01:00 the next night in Singapore is two days there, whatever the offset written.
    two_nights = {"starts_at": "2027-03-08T15:00:00+00:00", "ends_at": "2027-03-08T17:00:00+00:00"}
    assert imported(certificate_rule={"days": 2}, **two_nights) == {"days": 2}
    with pytest.raises(ImportProblem, match="days must be from 1 to 2"):
        run(import_data, {"events": [event_record(certificate_rule={"days": 3}, **two_nights)]})


def test_a_misspelt_key_is_refused_by_name(run):
    with pytest.raises(ImportProblem, match=r"unknown key 'certificate_rules' \(did you mean 'certificate_rule'\?\)"):
        run(import_data, {"events": [event_record(certificate_rules={"days": 3})]})
