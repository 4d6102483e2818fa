"""Places per choice, at the service level: a choice with places (a workshop of 20) is held by
the active registrations that picked it, like a seat; a full choice refuses the registration
with ChoiceFull and writes nothing; cancelling or rejecting frees the place."""

from __future__ import annotations

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select

from portal.errors import ChoiceFull
from portal.models import ChoicePick, OutboxMessage, Registration, RegistrationStatus
from portal.questions.schema import parse_form
from portal.questions.store import Owner, save_form
from portal.registrations import participants
from portal.registrations.actions import RosterAction, act_on_registration
from portal.registrations.participants import Submission
from portal.registrations.seats import places_taken

S = RegistrationStatus

WORKSHOP = {
    "key": "workshop", "type": "choice", "widget": "radio", "label": "Workshop",
    "choices": [{"value": "a", "label": "Workshop A", "places": 2}, {"value": "b", "label": "Workshop B", "places": 5}],
}


@pytest.fixture
def with_form(run):  # type: ignore[no-untyped-def]
    """with_form(event, questions): give the event its own form."""

    def _with(event, questions):  # type: ignore[no-untyped-def]
        run(save_form, None, Owner(event_id=event.id), parse_form(questions))

    return _with


@pytest.fixture
def register(run, site):  # type: ignore[no-untyped-def]
    def _register(event, email, answers=None, **kw):  # type: ignore[no-untyped-def]
        return run(participants.register, site, event.slug, Submission(name="Ann Lee", email=email, answers=answers or {}, **kw))

    return _register


@pytest.fixture
def taken(run):  # type: ignore[no-untyped-def]
    def _taken(event):  # type: ignore[no-untyped-def]
        return run(places_taken, event.id)

    return _taken


@pytest.fixture
def picks_of(sessions):  # type: ignore[no-untyped-def]
    def _picks(registration_id):  # type: ignore[no-untyped-def]
        with sessions() as session:
            rows = session.execute(select(ChoicePick.question_key, ChoicePick.value).where(ChoicePick.registration_id == registration_id))
            return sorted(tuple(r) for r in rows)

    return _picks


def count(sessions, model, **where):  # type: ignore[no-untyped-def]
    with sessions() as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return session.scalar(query)


def test_a_full_choice_refuses_with_its_label_and_writes_nothing(make_event, with_form, register, taken, sessions):
    event = make_event(capacity=None)
    with_form(event, [WORKSHOP])
    first = register(event, "one@example.org", {"workshop": "a"})
    register(event, "two@example.org", {"workshop": "a"})
    messages = count(sessions, OutboxMessage)

    with pytest.raises(ChoiceFull) as refused:
        register(event, "three@example.org", {"workshop": "a"})

    assert refused.value.message == "Workshop A is full; choose another."
    assert (refused.value.key, refused.value.value, refused.value.status_code) == ("workshop", "a", 409)
    assert count(sessions, Registration, email="three@example.org") == 0
    assert count(sessions, OutboxMessage) == messages
    assert taken(event) == {("workshop", "a"): 2}
    # Another choice still has room, and the same person may take it.
    assert register(event, "three@example.org", {"workshop": "b"}).status == S.CONFIRMED
    assert taken(event) == {("workshop", "a"): 2, ("workshop", "b"): 1}
    assert first.created


def test_every_pick_of_a_question_with_places_is_recorded(make_event, with_form, register, picks_of, taken):
    event = make_event(capacity=None)
    with_form(event, [
        {"key": "sessions", "type": "multichoice", "label": "Sessions", "choices": [
            {"value": "am", "label": "Morning", "places": 1},
            {"value": "pm", "label": "Afternoon"},  # no limit, but counted with the rest
        ]},
        {"key": "diet", "type": "choice", "label": "Diet", "choices": [{"value": "none", "label": "None"}, {"value": "halal", "label": "Halal"}]},
    ])
    outcome = register(event, "one@example.org", {"sessions": ["am", "pm"], "diet": "halal"})
    # A question without places keeps no picks.
    assert picks_of(outcome.registration_id) == [("sessions", "am"), ("sessions", "pm")]

    # One full pick refuses the registration, even with another pick free.
    with pytest.raises(ChoiceFull, match="^Morning is full; choose another.$"):
        register(event, "two@example.org", {"sessions": ["pm", "am"]})
    for i in range(3):
        register(event, f"pm{i}@example.org", {"sessions": ["pm"]})
    assert taken(event) == {("sessions", "am"): 1, ("sessions", "pm"): 4}


def test_a_choice_with_no_places_is_always_full(make_event, with_form, register):
    event = make_event(capacity=None)
    with_form(event, [{**WORKSHOP, "choices": [{"value": "a", "label": "Closed workshop", "places": 0}, {"value": "b", "label": "B"}]}])
    with pytest.raises(ChoiceFull, match="Closed workshop is full"):
        register(event, "one@example.org", {"workshop": "a"})


def test_cancelling_and_rejecting_free_their_places(make_event, with_form, register, run, site, taken, manage_link):
    event = make_event(capacity=None)
    with_form(event, [WORKSHOP])
    register(event, "one@example.org", {"workshop": "a"})
    second = register(event, "two@example.org", {"workshop": "a"})
    with pytest.raises(ChoiceFull):
        register(event, "three@example.org", {"workshop": "a"})

    run(participants.cancel, site, manage_link("one@example.org"))
    assert taken(event) == {("workshop", "a"): 1}
    register(event, "three@example.org", {"workshop": "a"})

    run(act_on_registration, site, None, second.registration_id, RosterAction.REJECT)
    assert taken(event) == {("workshop", "a"): 1}
    assert register(event, "four@example.org", {"workshop": "a"}).created
    with pytest.raises(ChoiceFull):
        register(event, "five@example.org", {"workshop": "a"})


def test_waitlisted_and_pending_registrations_hold_their_places(make_event, with_form, register, taken):
    event = make_event(capacity=1, waitlist=True)
    with_form(event, [WORKSHOP])
    assert register(event, "one@example.org", {"workshop": "a"}).status == S.CONFIRMED
    assert register(event, "two@example.org", {"workshop": "a"}).status == S.WAITLISTED
    assert taken(event) == {("workshop", "a"): 2}
    with pytest.raises(ChoiceFull):
        register(event, "three@example.org", {"workshop": "a"})


def test_a_hidden_conditional_question_takes_no_place(make_event, with_form, register, picks_of, taken):
    event = make_event(capacity=None)
    with_form(event, [
        {"key": "attend_workshop", "type": "yesno", "label": "Will you attend a workshop?"},
        {**WORKSHOP, "show_if": {"attend_workshop": ["yes"]}},
    ])
    # Hidden, so the form dropped its answer: no place.
    hidden = register(event, "one@example.org", {"attend_workshop": "no"})
    # Hidden, yet sent anyway (a forged request): the server applies the rule, no place either.
    forged = register(event, "two@example.org", {"attend_workshop": "no", "workshop": "a"})
    assert picks_of(hidden.registration_id) == [] and picks_of(forged.registration_id) == []
    assert taken(event) == {}
    shown = register(event, "three@example.org", {"attend_workshop": "yes", "workshop": "a"})
    assert picks_of(shown.registration_id) == [("workshop", "a")]


def test_a_retired_question_takes_no_place(make_event, with_form, register, taken):
    event = make_event(capacity=None)
    with_form(event, [{**WORKSHOP, "retired": True}])
    register(event, "one@example.org", {"workshop": "a"})
    assert taken(event) == {}


def test_places_are_counted_per_event(make_event, with_form, register, taken):
    busy, quiet = make_event(capacity=None), make_event(capacity=None)
    with_form(busy, [WORKSHOP])
    with_form(quiet, [WORKSHOP])
    register(busy, "one@example.org", {"workshop": "a"})
    register(busy, "two@example.org", {"workshop": "a"})
    assert register(quiet, "one@example.org", {"workshop": "a"}).created
    assert taken(quiet) == {("workshop", "a"): 1}


def statements(sessions):  # type: ignore[no-untyped-def]
    """Every SQL statement the sessions' engine runs, as a list that grows."""
    seen: list[str] = []
    sa_event.listen(sessions.kw["bind"], "before_cursor_execute", lambda conn, cursor, sql, *rest: seen.append(sql))
    return seen


def test_places_cost_one_query_and_only_on_a_form_that_has_them(make_event, with_form, register, sessions):
    plain, workshop = make_event(capacity=None), make_event(capacity=None)
    with_form(plain, [{**WORKSHOP, "choices": [{"value": "a", "label": "A"}]}])
    with_form(workshop, [WORKSHOP])
    seen = statements(sessions)

    register(plain, "one@example.org", {"workshop": "a"})
    assert not [sql for sql in seen if "choice_picks" in sql]

    seen.clear()
    register(workshop, "one@example.org", {"workshop": "a"})
    reads = [sql for sql in seen if "choice_picks" in sql and sql.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 1


# --- changing one's details ------------------------------------------------------------------


def test_changing_a_choice_moves_the_place_or_refuses(make_event, with_form, register, run, site, manage_link, taken, picks_of, sessions):
    event = make_event(capacity=None)
    with_form(event, [{**WORKSHOP, "choices": [{"value": "a", "label": "Workshop A", "places": 1}, {"value": "b", "label": "Workshop B", "places": 1}]}])
    ann = register(event, "ann@example.org", {"workshop": "a"})
    register(event, "bo@example.org", {"workshop": "b"})
    token = manage_link("ann@example.org")

    with pytest.raises(ChoiceFull, match="Workshop B is full"):
        run(participants.update_details, token, Submission("Ann Lee", "ann@example.org", answers={"workshop": "b"}))
    with sessions() as session:
        assert session.get_one(Registration, ann.registration_id).answers == {"workshop": "a"}
    assert picks_of(ann.registration_id) == [("workshop", "a")]

    # Saving again with the same choice keeps the place: it is not counted against itself.
    run(participants.update_details, token, Submission("Ann B. Lee", "ann@example.org", answers={"workshop": "a"}))
    assert picks_of(ann.registration_id) == [("workshop", "a")]

    run(participants.cancel, site, manage_link("bo@example.org"))
    run(participants.update_details, token, Submission("Ann B. Lee", "ann@example.org", answers={"workshop": "b"}))
    assert picks_of(ann.registration_id) == [("workshop", "b")]
    assert taken(event) == {("workshop", "b"): 1}
    # Workshop A is free again.
    assert register(event, "cy@example.org", {"workshop": "a"}).created


def test_a_kept_choice_keeps_its_place_after_the_places_are_lowered(make_event, with_form, register, run, manage_link, picks_of):
    event = make_event(capacity=None)
    with_form(event, [WORKSHOP])
    ann = register(event, "ann@example.org", {"workshop": "a"})
    register(event, "bo@example.org", {"workshop": "a"})
    with_form(event, [{**WORKSHOP, "choices": [{"value": "a", "label": "Workshop A", "places": 1}, WORKSHOP["choices"][1]]}])

    run(participants.update_details, manage_link("ann@example.org"), Submission("Ann Changed", "ann@example.org", answers={"workshop": "a"}))
    assert picks_of(ann.registration_id) == [("workshop", "a")]


def test_leaving_a_choice_frees_its_place(make_event, with_form, register, run, manage_link, picks_of, taken):
    event = make_event(capacity=None)
    with_form(event, [
        {"key": "attend_workshop", "type": "yesno", "label": "Will you attend a workshop?"},
        {**WORKSHOP, "show_if": {"attend_workshop": ["yes"]}},
    ])
    ann = register(event, "ann@example.org", {"attend_workshop": "yes", "workshop": "a"})
    run(participants.update_details, manage_link("ann@example.org"), Submission("Ann Lee", "ann@example.org", answers={"attend_workshop": "no"}))
    assert picks_of(ann.registration_id) == [] and taken(event) == {}


def test_an_answer_that_is_not_editable_keeps_its_place_whatever_is_sent(make_event, with_form, register, run, manage_link, picks_of, sessions):
    event = make_event(capacity=None)
    with_form(event, [{**WORKSHOP, "editable": False}, {"key": "position", "type": "text", "label": "Position"}])
    ann = register(event, "ann@example.org", {"workshop": "a", "position": "Analyst"})

    run(participants.update_details, manage_link("ann@example.org"), Submission("Ann Lee", "ann@example.org", answers={"workshop": "b", "position": "Director"}))
    with sessions() as session:
        assert session.get_one(Registration, ann.registration_id).answers == {"workshop": "a", "position": "Director"}
    assert picks_of(ann.registration_id) == [("workshop", "a")]

    # Left out of what is sent (the manage page does not show it): kept all the same.
    run(participants.update_details, manage_link("ann@example.org"), Submission("Ann Lee", "ann@example.org", answers={"position": "Director"}))
    with sessions() as session:
        assert session.get_one(Registration, ann.registration_id).answers["workshop"] == "a"


def test_approving_a_rejected_registration_again_needs_its_places_back(make_event, with_form, register, run, site, taken):
    """A rejection frees the places its choices held; taking the rejection back must not
    push a choice over its places."""
    event = make_event(capacity=None)
    with_form(event, [WORKSHOP])
    register(event, "one@example.org", {"workshop": "a"})
    second = register(event, "two@example.org", {"workshop": "a"})
    run(act_on_registration, site, None, second.registration_id, RosterAction.REJECT)
    register(event, "three@example.org", {"workshop": "a"})  # takes the freed place

    report = run(act_on_registration, site, None, second.registration_id, RosterAction.APPROVE)
    assert report.changed == []
    assert "“Workshop A” (Workshop) has no place left" in report.skipped[0].problem
    assert taken(event) == {("workshop", "a"): 2}

    run(participants.cancel, site, run(lambda session: session.scalar(
        select(Registration.token).where(Registration.email == "three@example.org"))))
    report = run(act_on_registration, site, None, second.registration_id, RosterAction.APPROVE)
    assert [r.after for r in report.changed] == [S.CONFIRMED]
    assert taken(event) == {("workshop", "a"): 2}


def test_places_given_to_a_choice_after_people_picked_it_count_those_picks(make_event, with_form, register, taken):
    """An organiser adds places to a choice some registrants already picked: their picks hold
    places at once, so the choice is not overbooked."""
    event = make_event(capacity=None)
    unlimited = {**WORKSHOP, "choices": [{"value": "a", "label": "Workshop A"}, {"value": "b", "label": "Workshop B"}]}
    with_form(event, [unlimited])
    register(event, "one@example.org", {"workshop": "a"})
    register(event, "two@example.org", {"workshop": "b"})
    assert taken(event) == {}

    with_form(event, [WORKSHOP])  # Workshop A: 2 places, B: 5
    assert taken(event) == {("workshop", "a"): 1, ("workshop", "b"): 1}
    register(event, "three@example.org", {"workshop": "a"})
    with pytest.raises(ChoiceFull):
        register(event, "four@example.org", {"workshop": "a"})


def test_changing_a_choice_moves_only_that_event_s_seats_not_the_site_s_pages(make_event, with_form, register, run, sessions, manage_link):
    """A changed choice deletes a pick: that must count as a change to this event's seats,
    not as a change to every page of the site (the change marker) and every event's seats."""
    from portal.db import read_change_version
    from portal.models import Event

    event, other = make_event(capacity=None), make_event(capacity=None)
    with_form(event, [WORKSHOP])
    register(event, "ann@example.org", {"workshop": "a"})

    def state():  # type: ignore[no-untyped-def]
        with sessions() as session:
            return read_change_version(session), session.get_one(Event, other.id).seats_version

    before = state()
    run(participants.update_details, manage_link("ann@example.org"), Submission("Ann Lee", "ann@example.org", answers={"workshop": "b"}))
    assert state() == before


def test_places_taken_away_and_given_back_count_the_choice_held_now(make_event, with_form, register, run, manage_link, picks_of, taken):
    """Places removed, a choice changed meanwhile, places given back: the registration holds
    the choice it has now, not also the one it had."""
    event = make_event(capacity=None)
    unlimited = {**WORKSHOP, "choices": [{"value": "a", "label": "Workshop A"}, {"value": "b", "label": "Workshop B"}]}
    with_form(event, [WORKSHOP])
    ann = register(event, "ann@example.org", {"workshop": "a"})
    with_form(event, [unlimited])
    run(participants.update_details, manage_link("ann@example.org"), Submission("Ann Lee", "ann@example.org", answers={"workshop": "b"}))
    with_form(event, [WORKSHOP])
    assert picks_of(ann.registration_id) == [("workshop", "b")]
    assert taken(event) == {("workshop", "b"): 1}


def test_approving_again_when_the_form_no_longer_has_the_choice_is_not_an_error(make_event, make_programme, run, site):
    """The event moved to another programme, whose form has no workshop question: the picks
    the rejected registration kept name a question the form does not have, and hold nothing."""
    from portal.models import Event

    first, second = make_programme(), make_programme()
    run(save_form, None, Owner(programme_id=first.id), parse_form([WORKSHOP]))
    event = make_event(capacity=None, programme_id=first.id)
    rejected = run(participants.register, site, event.slug, Submission(name="Ann Lee", email="one@example.org", answers={"workshop": "a"}))
    run(act_on_registration, site, None, rejected.registration_id, RosterAction.REJECT)
    run(lambda session: setattr(session.get_one(Event, event.id), "programme_id", second.id))

    report = run(act_on_registration, site, None, rejected.registration_id, RosterAction.APPROVE)
    assert [r.after for r in report.changed] == [S.CONFIRMED]


def test_a_forged_choice_value_holds_no_place(make_event, with_form, register, picks_of, taken):
    """A value the question does not offer (a hand-made request past the form) is no pick."""
    event = make_event(capacity=None)
    with_form(event, [WORKSHOP])
    forged = register(event, "one@example.org", {"workshop": "zzz"})
    assert picks_of(forged.registration_id) == []
    assert taken(event) == {}
