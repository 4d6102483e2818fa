"""The back office's timetable editor: an event's sessions by day with their speakers and
places, adding and editing one (which moves it: new times or room), cancelling and restoring
it, and deleting one nobody chose. Checked by the import's rules (timetable.check_session);
every change audited; those who chose a session are emailed when it moves or is cancelled,
in the same transaction (mail.sessionmail).

Clashes (a room used twice at once, a speaker in two places) are warnings, not refusals:
timetable.clashes says why.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from portal.audit import Actor, record
from portal.catalogue.timetable import Clash, SessionProblem, SessionSaved, check_session, clashes, save_session
from portal.db import utcnow
from portal.errors import InvalidTransition, NotFound
from portal.mail.messages import Change
from portal.mail.sessionmail import queue_session_message
from portal.models import (
    ACTIVE_STATUSES,
    Event,
    EventSession,
    EventStatus,
    Registration,
    SessionCheckIn,
    SessionChoice,
    SessionKind,
    SessionSpeaker,
    SessionStatus,
    Speaker,
    event_by_slug,
)
from portal.registrations.seats import (
    fill_session_places,
    lock_event,
    session_places_left,
    session_places_taken,
    session_waiting_counts,
)
from portal.site import Site
from portal.templating import date_range, plural, zone_label

# The add page's address: a session cannot have it as its key.
RESERVED_KEYS = frozenset({"new"})
_BATCH = 500


@dataclass(frozen=True)
class SessionRow:
    """One session as the editor lists it."""

    session: EventSession
    speakers: list[tuple[str, str]]  # (key, name), in the session's order
    holding: int  # places held by those who chose it
    waiting: int

    @property
    def places_left(self) -> int | None:
        return session_places_left(self.session, self.holding)


@dataclass(frozen=True)
class TimetableDay:
    day: date
    rows: list[SessionRow]


@dataclass(frozen=True)
class Timetable:
    event: Event
    days: list[TimetableDay]
    clashes: list[Clash]
    total: int
    cancelled: int
    zone: str  # the event's zone in words: 'Asia/Singapore, UTC+08' or 'BST (Europe/London)'


def _zone_words(event: Event, zone: ZoneInfo) -> str:
    label = zone_label(event.starts_at.astimezone(zone), event.timezone)
    return label[1:-1] if label.startswith("(") and label.endswith(")") else label


def _speakers_of(session: Session, session_ids: Iterable[int]) -> dict[int, list[tuple[str, str]]]:
    ids = list(session_ids)
    found: dict[int, list[tuple[str, str]]] = {}
    for start in range(0, len(ids), _BATCH):
        rows = session.execute(
            select(SessionSpeaker.session_id, Speaker.key, Speaker.name).join(Speaker, Speaker.id == SessionSpeaker.speaker_id)
            .where(SessionSpeaker.session_id.in_(ids[start:start + _BATCH])).order_by(SessionSpeaker.session_id, SessionSpeaker.position)
        )
        for session_id, key, name in rows:
            found.setdefault(session_id, []).append((key, name))
    return found


def timetable(session: Session, slug: str) -> Timetable:
    """The event's sessions by day in its own zone, each with speakers, places held and
    waiting, and the clashes among them."""
    event = event_by_slug(session, slug)
    sessions = list(session.scalars(
        select(EventSession).where(EventSession.event_id == event.id)
        .order_by(EventSession.starts_at, EventSession.room, EventSession.id)
    ))
    people = _speakers_of(session, (s.id for s in sessions))
    taken = session_places_taken(session, event.id)
    waiting = session_waiting_counts(session, event.id)
    zone = ZoneInfo(event.timezone)
    days: dict[date, list[SessionRow]] = {}
    for s in sessions:
        row = SessionRow(s, people.get(s.id, []), taken.get(s.id, 0), waiting.get(s.id, 0))
        days.setdefault(s.starts_at.astimezone(zone).date(), []).append(row)
    return Timetable(
        event, [TimetableDay(d, rows) for d, rows in days.items()], clashes(session, event.id),
        len(sessions), sum(1 for s in sessions if s.cancelled), _zone_words(event, zone),
    )


@dataclass(frozen=True)
class SessionPage:
    """One session with what its pages show: its event, speakers, and who chose it."""

    event: Event
    session: EventSession
    speakers: list[tuple[str, str]]
    holding: int
    waiting: int
    checked_in: int

    @property
    def chosen(self) -> int:
        return self.holding + self.waiting

    @property
    def places_left(self) -> int | None:
        return session_places_left(self.session, self.holding)


def _find(session: Session, event: Event, key: str, *, lock: bool = False) -> EventSession:
    query = select(EventSession).where(EventSession.event_id == event.id, EventSession.key == key)
    found = session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise NotFound(f"{event.title} has no session “{key}”: it may have been deleted.")
    return found


def session_page(session: Session, slug: str, key: str) -> SessionPage:
    """One session of an event, with its speakers and counts."""
    event = event_by_slug(session, slug)
    found = _find(session, event, key)
    taken = session_places_taken(session, event.id, only=[found.id]).get(found.id, 0)
    waiting = session_waiting_counts(session, event.id).get(found.id, 0)
    checked = session.scalar(select(func.count()).select_from(SessionCheckIn).where(SessionCheckIn.session_id == found.id)) or 0
    return SessionPage(event, found, _speakers_of(session, [found.id]).get(found.id, []), taken, waiting, checked)


def unknown_speakers(session: Session, keys: list[str]) -> str | None:
    """None when every key names a speaker; else what is wrong, in words, with the nearest
    keys that do exist."""
    if not keys:
        return None
    known = set(session.scalars(select(Speaker.key).where(Speaker.key.in_(keys))))
    missing = [k for k in dict.fromkeys(keys) if k not in known]
    if not missing:
        return None
    every = list(session.scalars(select(Speaker.key)))
    words = []
    for key in missing[:5]:
        near = difflib.get_close_matches(key, every, n=3, cutoff=0.75)
        hint = f" (did you mean {' or '.join(near)}?)" if near else ""
        words.append(f"{key}{hint}")
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    return (
        f"No speaker has the key {'; '.join(words)}{more}. Check the spelling on the Speakers page, "
        "or add the speaker there first."
    )


# The import's wording of a rule, as the editor's form says it (its boxes by their labels).
_FORM_WORDS = {
    "places": "Places apply only to a session participants choose: tick “Participants choose to attend it”, "
              "or leave the places empty.",
    "waitlist": "A waiting list needs a number of places: enter the places, or untick the waiting list.",
}


def _checked(session: Session, event: Event, values: dict[str, Any]) -> None:
    """SessionProblem naming the field, as the import's rules say, with the event's times in
    words where the session does not lie within them."""
    if len(set(values["speakers"])) != len(values["speakers"]):
        raise SessionProblem("a speaker is named twice", "speakers")
    try:
        check_session(values, event.starts_at, event.ends_at)
    except SessionProblem as exc:
        if exc.field == "starts_at" and "within" in str(exc):
            span = date_range(event.starts_at, event.ends_at, event.timezone)
            raise SessionProblem(f"The session must lie within the event: {span}.", "starts_at") from None
        raise SessionProblem(_FORM_WORDS.get(exc.field or "", str(exc)[:1].upper() + str(exc)[1:] + "."), exc.field) from None
    problem = unknown_speakers(session, values["speakers"])
    if problem:
        raise SessionProblem(problem, "speakers")


@dataclass(frozen=True)
class SessionReport:
    """What saving a session did: the session, whether anything changed, who was told, who
    was given a freed place, and the clashes it now takes part in."""

    session: EventSession
    changed: list[str]
    told: int
    promoted: int
    clashes: list[Clash]


def _clashes_of(session: Session, event_id: int, session_id: int) -> list[Clash]:
    return [c for c in clashes(session, event_id) if session_id in (c.first.id, c.second.id)]


def _choosers(session: Session, session_id: int) -> list[int]:
    """The active registrations that chose a session, waiting or not."""
    return list(session.scalars(
        select(Registration.id).join(SessionChoice, SessionChoice.registration_id == Registration.id)
        .where(SessionChoice.session_id == session_id, Registration.status.in_(ACTIVE_STATUSES)).order_by(Registration.id)
    ))


def _held(session: Session, session_id: int, registration_ids: list[int]) -> set[int]:
    """Of these registrations, those holding a place (not waiting) in the session."""
    return set(session.scalars(
        select(SessionChoice.registration_id).where(
            SessionChoice.session_id == session_id, SessionChoice.waiting.is_(False), SessionChoice.registration_id.in_(registration_ids)
        )
    ))


def _tell_choosers(session: Session, site: Site, event: Event, target: EventSession, kind: str, changes: list[Change]) -> int:
    """Email everyone whose active registration chose the session (waiting or not): what
    changed, with their manage link. Only at a published event (a draft's choosers are
    tests; a cancelled event's were told it is off)."""
    if event.status != EventStatus.PUBLISHED:
        return 0
    ids = _choosers(session, target.id)
    people = list(session.scalars(
        select(Speaker).join(SessionSpeaker, SessionSpeaker.speaker_id == Speaker.id)
        .where(SessionSpeaker.session_id == target.id).order_by(SessionSpeaker.position)
    )) if ids else []
    for start in range(0, len(ids), _BATCH):
        chunk = ids[start:start + _BATCH]
        held = _held(session, target.id, chunk)
        batch = list(session.scalars(select(Registration).where(Registration.id.in_(chunk)).order_by(Registration.id)))
        messages = [
            queue_session_message(session, site, kind, r, event, target, speakers=people, changes=changes, holds_place=r.id in held)
            for r in batch
        ]
        session.flush()
        for obj in [*messages, *batch]:
            session.expunge(obj)
    return len(ids)


def session_changes(event: Event, saved: SessionSaved) -> list[Change]:
    """What moved a session, in words: its time (in the event's zone, zone named), its room,
    and its coming back after a cancellation."""
    before, after, target = saved.before, saved.after, saved.session
    changes = []
    if "starts_at" in after or "ends_at" in after:
        was = date_range(before.get("starts_at", target.starts_at), before.get("ends_at", target.ends_at), event.timezone)
        changes.append(Change("When", date_range(target.starts_at, target.ends_at, event.timezone), was))
    if "room" in after:
        changes.append(Change("Room", target.room or "to be announced", before["room"] or "none given"))
    if after.get("status") == SessionStatus.SCHEDULED:
        changes.append(Change("Status", "back on the programme", "cancelled"))
    return changes


def _check_choices_kept(session: Session, target: EventSession, values: dict[str, Any]) -> None:
    """A session people chose must stay one to choose; its waiting list must stay while
    people wait on it."""
    if not target.choose:
        return
    ids = _choosers(session, target.id)
    if ids and not values["choose"]:
        raise SessionProblem(
            f"{plural(len(ids), 'person has', 'people have')} chosen this session, so it must stay one to choose; "
            "cancel it instead if it will not happen.", "choose",
        )
    waiting = len(ids) - len(_held(session, target.id, ids)) if ids else 0
    if waiting and target.waitlist and not values["waitlist"]:
        raise SessionProblem(
            f"{plural(waiting, 'person waits', 'people wait')} for a place: keep the waiting list, "
            "or raise the places so that they get one.", "waitlist",
        )


def _saved_report(session: Session, site: Site, event: Event, saved: SessionSaved, now: datetime) -> SessionReport:
    target = saved.session
    told = 0
    if saved.moved and not target.cancelled:
        told = _tell_choosers(session, site, event, target, "session_changed", session_changes(event, saved))
    promoted = 0
    if "places" in saved.after or "waitlist" in saved.after:
        promoted = len(fill_session_places(session, site, event, now=now))
    return SessionReport(target, list(saved.after), told, promoted, _clashes_of(session, event.id, target.id))


def create_session(session: Session, site: Site, actor: Actor, slug: str, values: dict[str, Any], *, now: datetime | None = None) -> SessionReport:
    """Add a session to an event's timetable. SessionProblem names the field at fault."""
    now = now or utcnow()
    event = lock_event(session, slug)
    if values["key"] in RESERVED_KEYS:
        raise SessionProblem(f"“{values['key']}” is kept for the page that adds a session; choose another key.", "key")
    if session.scalar(select(EventSession.id).where(EventSession.event_id == event.id, EventSession.key == values["key"])):
        raise SessionProblem(f"This event has a session with the key “{values['key']}” already; choose another.", "key")
    _checked(session, event, values)
    saved = save_session(session, event, {**values, "status": SessionStatus.SCHEDULED}, now=now)
    record(session, actor, "session.create", event_id=event.id, after={
        "session": saved.session.key, "title": saved.session.title, "starts_at": saved.session.starts_at,
        "ends_at": saved.session.ends_at, "room": saved.session.room, "speakers": values["speakers"],
    }, now=now)
    return SessionReport(saved.session, ["created"], 0, 0, _clashes_of(session, event.id, saved.session.id))


def update_session(session: Session, site: Site, actor: Actor, slug: str, key: str, values: dict[str, Any], *, now: datetime | None = None) -> SessionReport:
    """Edit a session; a new time or room raises its SEQUENCE and emails those who chose it.
    SessionProblem names the field at fault."""
    now = now or utcnow()
    event = lock_event(session, slug)
    target = _find(session, event, key, lock=True)
    values = {**values, "key": key}
    # The form edits times to the minute: one with seconds (from an import) that the organiser
    # left alone stays exactly as it was, or the session would seem moved.
    for name in ("starts_at", "ends_at"):
        old = getattr(target, name)
        if values[name] == old.replace(second=0, microsecond=0):
            values[name] = old
    _checked(session, event, values)
    _check_choices_kept(session, target, values)
    saved = save_session(session, event, values, now=now, existing=target)
    if not saved.after:
        return SessionReport(target, [], 0, 0, _clashes_of(session, event.id, target.id))
    record(session, actor, "session.update", event_id=event.id, before={"session": key, **saved.before}, after={"session": key, **saved.after}, now=now)
    return _saved_report(session, site, event, saved, now)


def _set_status(session: Session, site: Site, actor: Actor, slug: str, key: str, status: SessionStatus, now: datetime | None) -> SessionReport:
    now = now or utcnow()
    event = lock_event(session, slug)
    target = _find(session, event, key, lock=True)
    if target.status == status:
        raise InvalidTransition(f"{target.title} is {'cancelled' if status == SessionStatus.CANCELLED else 'on the programme'} already.")
    values = {"status": status, "speakers": [k for k, _ in _speakers_of(session, [target.id]).get(target.id, [])]}
    saved = save_session(session, event, values, now=now, existing=target)
    action = "session.cancel" if status == SessionStatus.CANCELLED else "session.restore"
    record(session, actor, action, event_id=event.id, before={"session": key, **saved.before}, after={"session": key, **saved.after}, now=now)
    if status == SessionStatus.CANCELLED:
        told = _tell_choosers(session, site, event, target, "session_cancelled", [])
        return SessionReport(target, ["status"], told, 0, [])
    return _saved_report(session, site, event, saved, now)


def cancel_session(session: Session, site: Site, actor: Actor, slug: str, key: str, *, now: datetime | None = None) -> SessionReport:
    """Cancel a session: it stays on the timetable marked cancelled (and can be restored),
    its SEQUENCE rises, and those who chose it are emailed. Their choices are kept."""
    return _set_status(session, site, actor, slug, key, SessionStatus.CANCELLED, now)


def restore_session(session: Session, site: Site, actor: Actor, slug: str, key: str, *, now: datetime | None = None) -> SessionReport:
    """Put a cancelled session back on the programme; those who chose it are told."""
    return _set_status(session, site, actor, slug, key, SessionStatus.SCHEDULED, now)


@dataclass(frozen=True)
class DeletePreview:
    page: SessionPage
    # Why it cannot be deleted, in words, or None.
    refusal: str | None


def _delete_refusal(chosen: int, checked_in: int) -> str | None:
    if chosen:
        return (
            f"{plural(chosen, 'person has', 'people have')} chosen this session, so it cannot be deleted: "
            "cancel it instead, and they will be told."
        )
    if checked_in:
        return f"{plural(checked_in, 'person was', 'people were')} checked in at this session; its record stays. Cancel it instead."
    return None


def delete_preview(session: Session, slug: str, key: str) -> DeletePreview:
    """The session, and why it cannot be deleted (if it cannot)."""
    page = session_page(session, slug, key)
    return DeletePreview(page, _delete_refusal(page.chosen, page.checked_in))


def delete_session(session: Session, actor: Actor, slug: str, key: str, *, now: datetime | None = None) -> str:
    """Delete a session nobody chose (nor was checked in at); returns its title."""
    now = now or utcnow()
    event = lock_event(session, slug)
    target = _find(session, event, key, lock=True)
    chosen = len(_choosers(session, target.id))
    checked = session.scalar(select(func.count()).select_from(SessionCheckIn).where(SessionCheckIn.session_id == target.id)) or 0
    refusal = _delete_refusal(chosen, checked)
    if refusal:
        raise InvalidTransition(refusal)
    title = target.title
    record(session, actor, "session.delete", event_id=event.id, before={
        "session": key, "title": title, "starts_at": target.starts_at, "ends_at": target.ends_at, "room": target.room,
    }, now=now)
    # A statement, not session.delete: the ORM would load the speakers (lazy="raise") to
    # delete their rows, which the database's ON DELETE CASCADE does anyway.
    session.execute(delete(EventSession).where(EventSession.id == target.id))
    session.expunge(target)
    return title


def form_data(target: EventSession, speakers: list[tuple[str, str]]) -> dict[str, Any]:
    """A session's values as the edit form starts from them (times still aware)."""
    return {
        "title": target.title, "kind": SessionKind(target.kind).value, "starts_at": target.starts_at, "ends_at": target.ends_at,
        "room": target.room, "track": target.track or "", "description": target.description,
        "speakers": "\n".join(k for k, _ in speakers), "choose": target.choose, "places": target.places,
        "waitlist": target.waitlist, "check_in": target.check_in,
    }
