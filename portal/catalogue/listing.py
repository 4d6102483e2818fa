"""Reading events and programmes for the public pages: listing, one event, programmes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, literal_column, select
from sqlalchemy.orm import Session

from portal.catalogue.agenda import Timetable, load_timetable
from portal.catalogue.programmes import list_programmes as all_programmes
from portal.catalogue.search import matching
from portal.catalogue.sessionsearch import TimetableHits, find_in_timetables
from portal.db import utcnow
from portal.models import (
    PUBLIC_STATUSES,
    Admission,
    Event,
    EventStatus,
    Programme,
    find_event,
    programme_by_code,
    public_categories,
)
from portal.paging import Paged, clamp_page, offset
from portal.questions.schema import FormDefinition
from portal.questions.store import definition, form_for_event
from portal.registrations.availability import RegistrationState, registration_state, state_after_refusal
from portal.registrations.choices import SessionOption, session_options
from portal.registrations.seats import confirmed_counts, places_taken
from portal.text import search_words


@dataclass(frozen=True)
class EventCard:
    event: Event
    programme: Programme | None
    state: RegistrationState


@dataclass(frozen=True)
class Page(Paged):
    items: list[EventCard]
    total: int
    page: int
    per_page: int


def _cards(session: Session, query: Select[tuple[Event, Programme | None]], now: datetime) -> list[EventCard]:
    rows = session.execute(query).all()
    counts = confirmed_counts(session, [event.id for event, _ in rows])
    return [
        EventCard(
            event,
            programme,
            registration_state(event, counts.get(event.id, 0), now, programme.admission if programme else Admission.OPEN),
        )
        for event, programme in rows
    ]


def list_events(
    session: Session,
    *,
    programme: str | None = None,
    category: str | None = None,
    q: str | None = None,
    past: bool = False,
    date_from: date | None = None,
    date_to: date | None = None,
    tz: str = "Asia/Singapore",
    page: int = 1,
    per_page: int = 20,
    now: datetime | None = None,
) -> Page:
    """Public events, upcoming (soonest first) or past (latest first), filtered and paginated;
    with a search, the best matches first and the date only between equal ones. `date_from`
    and `date_to` (days in the zone `tz`, both included) keep the events running on any of
    those days."""
    now = now or utcnow()
    conditions = [Event.status.in_(PUBLIC_STATUSES)]
    conditions.append(Event.ends_at < now if past else Event.ends_at >= now)
    after, before = running_between(date_from, date_to, tz)
    if after is not None:
        conditions.append(Event.ends_at > after)
    if before is not None:
        conditions.append(Event.starts_at < before)
    if programme:
        conditions.append(Programme.code == programme)
    if category:
        conditions.append(Event.category == category)
    matches = select(Event.id).outerjoin(Programme, Event.programme_id == Programme.id).where(*conditions)
    by_date = [Event.starts_at.desc(), Event.id.desc()] if past else [Event.starts_at, Event.id]
    rank = None
    if q is not None and q.strip():
        words = search_words(q)
        if not words:
            # Only punctuation or symbols: nothing to look for, so nothing is found (rather
            # than every event, which would look like a match for what was typed).
            return Page([], 0, 1, per_page)
        matches, rank = matching(session, matches, words)
    total = session.scalar(select(func.count()).select_from(matches.subquery())) or 0
    page = clamp_page(page, total, per_page)
    # The page's ids are chosen first and only their rows read whole: sorting every match's
    # whole row (the description and all) cost PostgreSQL five times as much at 14,000 matches.
    if rank is not None:
        matches = matches.add_columns(rank.label("search_rank")).order_by(literal_column("search_rank"))
    chosen = matches.order_by(*by_date).limit(per_page).offset(offset(page, per_page)).subquery()
    query = select(Event, Programme).join(chosen, chosen.c.id == Event.id).outerjoin(Programme, Event.programme_id == Programme.id)
    query = query.order_by(*([chosen.c.search_rank] if rank is not None else []), *by_date)
    return Page(_cards(session, query, now), total, page, per_page)


def month_of(now: datetime, tz: str) -> tuple[date, date]:
    """The first and last days of the month `now` falls in, in the zone `tz`."""
    today = now.astimezone(ZoneInfo(tz)).date()
    first = today.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def running_between(first: date | None, last: date | None, tz: str) -> tuple[datetime | None, datetime | None]:
    """The times an event must end after and start before to run on a day from `first` to
    `last` (both included, either open) in the zone `tz`."""
    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=ZoneInfo(tz))

    return (midnight(first) if first else None, midnight(last + timedelta(days=1)) if last else None)


@dataclass(frozen=True)
class Listing:
    """The /events page: one page of events, and what its filters offer."""

    page: Page
    categories: list[str]
    programmes: list[Programme]
    # With a search, on its first page: the conference sessions and speakers that match.
    timetable_hits: TimetableHits = field(default_factory=TimetableHits)
    # The first and last days of the current month in the site's zone: the "This month" link.
    this_month: tuple[date, date] | None = None


def get_listing(session: Session, *, now: datetime | None = None, **filters: Any) -> Listing:
    """list_events with the filters' choices, in one unit of work."""
    now = now or utcnow()
    # The filter names the programmes only (programmes.list_programmes): this module's
    # list_programmes also counts their runs and finds the next of each.
    listing = Listing(list_events(session, now=now, **filters), public_categories(session), all_programmes(session))
    listing = replace(listing, this_month=month_of(now, filters.get("tz", "Asia/Singapore")))
    if filters.get("q") and listing.page.page == 1:
        hits = find_in_timetables(
            session, filters["q"], past=filters.get("past", False), programme=filters.get("programme"),
            category=filters.get("category"), now=now,
            during=running_between(filters.get("date_from"), filters.get("date_to"), filters.get("tz", "Asia/Singapore")),
        )
        listing = replace(listing, timetable_hits=hits)
    return listing


@dataclass(frozen=True)
class EventPage:
    event: Event
    programme: Programme | None
    state: RegistrationState
    admission: Admission
    # Read only for the register page (get_event_page(with_form=True)): the event's form,
    # the (form id, version) a process keeps the form it built under, and the places its
    # choices have taken.
    form: FormDefinition = field(default_factory=FormDefinition)
    form_key: tuple[int, int] | None = None
    places_taken: Mapping[tuple[str, str], int] = field(default_factory=dict)
    # Read only for the event page (get_event_page(with_timetable=True)): its sessions by day.
    timetable: Timetable | None = None
    # The conference sessions to choose while registering, with their places.
    sessions: list[SessionOption] = field(default_factory=list)

    def refused(self, *, full: bool, now: datetime | None = None) -> EventPage:
        """This page after a registration was refused as closed or full, without reading the
        event again (availability.state_after_refusal)."""
        state = state_after_refusal(self.event, self.state, now or utcnow(), self.admission, full=full)
        return replace(self, state=state)


def get_event_page(
    session: Session, slug: str, *, now: datetime | None = None, with_form: bool = False, with_timetable: bool = False
) -> EventPage:
    """One public event with its registration state (and, `with_form`, its registration
    form and the places its choices have left; `with_timetable`, its sessions by day);
    drafts are not found."""
    now = now or utcnow()
    event, programme = find_event(session, slug, statuses=PUBLIC_STATUSES)
    admission = programme.admission if programme else Admission.OPEN
    counts = confirmed_counts(session, [event.id])
    page = EventPage(event, programme, registration_state(event, counts.get(event.id, 0), now, admission), admission)
    if with_timetable:
        page = replace(page, timetable=load_timetable(session, event))
    if not with_form:
        return page
    row = form_for_event(session, event)
    form = definition(row)
    taken = places_taken(session, event.id) if any(q.has_places for q in form.live()) else {}
    return replace(
        page, form=form, form_key=(row.id, row.version) if row is not None else None, places_taken=taken,
        sessions=session_options(session, event.id),
    )


@dataclass(frozen=True)
class ProgrammeSummary:
    programme: Programme
    next_event: Event | None
    upcoming_count: int


def list_programmes(session: Session, *, now: datetime | None = None) -> list[ProgrammeSummary]:
    now = now or utcnow()
    programmes = all_programmes(session)
    upcoming = (Event.status == EventStatus.PUBLISHED, Event.ends_at >= now, Event.programme_id.is_not(None))
    # Runs counted and each programme's next run picked by the database: loading every
    # upcoming event to do it took 0.6 s at 20,000 events.
    counts = dict(session.execute(select(Event.programme_id, func.count()).where(*upcoming).group_by(Event.programme_id)).all())
    place = func.row_number().over(partition_by=Event.programme_id, order_by=(Event.starts_at, Event.id)).label("place")
    in_order = select(Event.id, place).where(*upcoming).subquery()
    following = session.scalars(select(Event).join(in_order, in_order.c.id == Event.id).where(in_order.c.place == 1))
    next_runs = {event.programme_id: event for event in following}
    return [ProgrammeSummary(p, next_runs.get(p.id), counts.get(p.id, 0)) for p in programmes]


@dataclass(frozen=True)
class ProgrammePage:
    programme: Programme
    upcoming: list[EventCard]
    past: list[EventCard]


def get_programme_page(session: Session, code: str, *, now: datetime | None = None) -> ProgrammePage:
    now = now or utcnow()
    programme = programme_by_code(session, code)
    base = (
        select(Event, Programme)
        .join(Programme, Event.programme_id == Programme.id)
        .where(Event.programme_id == programme.id, Event.status.in_(PUBLIC_STATUSES))
    )
    upcoming = _cards(session, base.where(Event.ends_at >= now).order_by(Event.starts_at), now)
    past = _cards(session, base.where(Event.ends_at < now).order_by(Event.starts_at.desc()).limit(20), now)
    return ProgrammePage(programme, upcoming, past)


@dataclass(frozen=True)
class Home:
    upcoming: list[EventCard]
    programmes: list[ProgrammeSummary]


def get_home(session: Session, *, now: datetime | None = None) -> Home:
    now = now or utcnow()
    return Home(list_events(session, per_page=8, now=now).items, list_programmes(session, now=now))
