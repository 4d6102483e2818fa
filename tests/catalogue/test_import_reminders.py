"""The import file's `reminders` and `followup` on an event: stored normalised, left alone when
the record does not mention them, and refused (naming the record) when wrong."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from portal.catalogue.imports import import_data
from portal.errors import ImportProblem
from portal.models import Event, Mailing, MailingKind


def event_record(**extra: Any) -> dict[str, Any]:
    return {
        "slug": "maritime-2027", "title": "Maritime Security Roundtable", "status": "published",
        "starts_at": "2027-03-08T09:00:00+08:00", "ends_at": "2027-03-08T17:00:00+08:00", **extra,
    }


@pytest.fixture
def imported(run, sessions):  # type: ignore[no-untyped-def]
    """imported(**event fields) -> the event as stored after importing it."""

    def _import(**extra: Any) -> Event:
        run(import_data, {"events": [event_record(**extra)]})
        with sessions() as session:
            return session.scalars(select(Event).where(Event.slug == "maritime-2027")).one()

    return _import


def refused(run, sessions, **extra: Any) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(ImportProblem) as caught:
        run(import_data, {"events": [event_record(**extra)]})
    with sessions() as session:
        stored = session.scalar(select(Event.reminders).where(Event.slug == "maritime-2027"))
    assert stored in (None, ["P3D"]), "a refused file changes nothing"
    return caught.value.message


def test_reminders_are_stored_normalised_longest_first(imported):
    assert imported(reminders=["PT2H", "P2D"]).reminders == ["P2D", "PT2H"]
    assert imported(reminders=["p1w", "PT24H", "PT90M"]).reminders == ["P7D", "P1D", "PT1H30M"]


def test_absent_keeps_null_is_the_default_and_empty_is_none(imported):
    assert imported().reminders is None  # a new event: the site's default
    assert imported(reminders=["P3D"]).reminders == ["P3D"]
    assert imported().reminders == ["P3D"]  # a record that does not say keeps what the event has
    assert imported(reminders=[]).reminders == []
    assert imported(reminders=None).reminders is None


@pytest.mark.parametrize(("value", "words"), [
    (["P1M"], "'P1M' is not a duration like P2D"),
    (["P2D", "P2D"], "'P2D' is there twice"),
    (["P1D", "PT24H"], "'PT24H' is there twice ('P1D' is the same time)"),
    (["P91D"], "more than 90 days"),
    (["PT0S"], "less than a minute"),
    (["P1D", "P2D", "P3D", "P4D", "P5D", "P6D"], "At most 5 reminders, not 6"),
    ("P2D", "must be a list of ISO 8601 durations"),
    ([2], "2 is not a duration"),
])
def test_a_bad_reminder_is_refused_naming_the_record(run, sessions, imported, value, words):
    imported(reminders=["P3D"])
    message = refused(run, sessions, reminders=value)
    assert message.startswith("events[0] (slug 'maritime-2027'): reminders: ")
    assert words in message


def test_a_misspelt_key_is_still_refused(run, sessions):
    message = refused(run, sessions, reminder=["P2D"])
    assert message == "events[0] (slug 'maritime-2027'): unknown key 'reminder' (did you mean 'reminders'?)"


FOLLOWUP = {"after": "P1D", "subject": "Slides from {event}", "body": "Dear {name},\n\nThe slides: https://example.org/s"}


def test_followup_is_stored_kept_and_removed(imported):
    assert imported(followup=dict(FOLLOWUP, after="PT24H")).followup == FOLLOWUP
    assert imported().followup == FOLLOWUP
    assert imported(followup=None).followup is None


@pytest.mark.parametrize(("value", "words"), [
    (dict(FOLLOWUP, body="Hello {nmae}"), "Unknown placeholder {nmae}"),
    (dict(FOLLOWUP, subject="About {evnt}"), "Unknown placeholder {evnt}"),
    (dict(FOLLOWUP, after="P1M"), "'P1M' is not a duration"),
    (dict(FOLLOWUP, subject=""), "subject is empty"),
    ({"after": "P1D", "subject": "Slides"}, "'body' is required"),
    (dict(FOLLOWUP, subjet="x"), "unknown key 'subjet' (did you mean 'subject'?)"),
    ("send slides", "must be an object"),
])
def test_a_bad_followup_is_refused_naming_the_record(run, sessions, value, words):
    message = refused(run, sessions, followup=value)
    assert message.startswith("events[0] (slug 'maritime-2027'): followup: ")
    assert words in message


def test_a_followup_that_went_out_cannot_change(run, sessions, imported):
    event = imported(followup=FOLLOWUP)
    run(lambda session: session.add(Mailing(key=f"followup:{event.id}", kind=MailingKind.FOLLOWUP, event_id=event.id)))
    assert imported(followup=FOLLOWUP).followup == FOLLOWUP  # the same again changes nothing: allowed
    with pytest.raises(ImportProblem, match=r"events\[0\] \(slug 'maritime-2027'\): followup: it was sent already"):
        run(import_data, {"events": [event_record(followup=None)]})
    with sessions() as session:
        assert session.scalar(select(Event.followup).where(Event.id == event.id)) == FOLLOWUP
