"""The back office's dashboard, events and programmes."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.catalogue import dashboard as overview
from portal.catalogue import editing
from portal.catalogue import programmes as programme_admin
from portal.catalogue.records import zone_names
from portal.catalogue.reminders import reminders_words
from portal.errors import AlreadyExists, InvalidInput, InvalidTransition
from portal.forms.events import DuplicateForm, EventForm, NewEventForm, NewProgrammeForm, ProgrammeForm, aware, local
from portal.forms.fields import options
from portal.models import Event, Programme, programme_by_code
from portal.rosters.charts import seat_bars
from portal.templating import plural
from portal.web.backoffice.auth import require_organiser
from portal.web.backoffice.base import actor, flash, page
from portal.web.csrf import read_form
from portal.web.params import page_number, text_param
from portal.web.plumbing import site, uow


def _theirs(request: Request) -> frozenset[int] | None:
    """A programme manager's programmes, to show only theirs; None: every programme."""
    who = actor(request)
    return who.programme_ids if who.is_programme_manager else None


@require_organiser
async def dashboard(request: Request) -> Response:
    data = await uow(request, overview.dashboard, programme_ids=_theirs(request))
    if actor(request).is_door:
        # The door's front page: the upcoming events' door pages, and nothing else.
        return page(request, "admin/door_dashboard.html", {"data": data})
    # Registrations made (every status) and confirmed now, against each event's capacity.
    seat_rows = seat_bars([
        (r.event.slug, r.event.title, sum(r.counts.values()), r.counts.get("confirmed", 0), r.event.capacity)
        for r in data.upcoming
    ])
    return page(request, "admin/dashboard.html", {"data": data, "seat_rows": seat_rows})


@require_organiser
async def list_events(request: Request) -> Response:
    when = request.query_params.get("when", "upcoming")
    if when not in ("upcoming", "past", "drafts"):
        raise HTTPException(400, "Choose upcoming, past or drafts.")
    q = text_param(request, "q")
    data = await uow(request, overview.list_events, when=when, q=q, page=page_number(request), programme_ids=_theirs(request))
    return page(request, "admin/events.html", {"data": data, "when": when, "q": q or ""})


def _with_programmes(request: Request, form: EventForm, programmes: list[Programme]) -> EventForm:
    theirs = _theirs(request)
    if theirs is not None:
        # A programme manager's events are in their programmes: not standalone, not another's.
        form.programme.choices = options([(p.code, p.name) for p in programmes if p.id in theirs])
        return form.use_default_reminders(reminders_words(request.app.state.settings.reminders))
    form.programme.choices = options([("", "None: a standalone event")] + [(p.code, p.name) for p in programmes])
    return form.use_default_reminders(reminders_words(request.app.state.settings.reminders))


def _form_context(data: editing.EventForm, form: EventForm, event: Event | None, problem: str | None) -> dict[str, Any]:
    """The event form's page: the form, the event (None for a new one), the categories and
    zones its fields suggest."""
    return {"form": form, "event": event, "problem": problem, "data": data, "zones": zone_names()}


@require_organiser
async def new_event(request: Request) -> Response:
    data = await uow(request, editing.event_form)
    problem, status = None, 200
    if request.method == "POST":
        form = _with_programmes(request, NewEventForm(await read_form(request)), data.programmes)
        if form.validate():
            try:
                event = await uow(request, editing.create_event, actor(request), form.slug.data or "", form.values(), write=True)
            except (InvalidInput, AlreadyExists) as exc:
                problem, status = exc.message, exc.status_code
                if isinstance(exc, AlreadyExists):  # the URL slug is taken: mark that field
                    form.slug.errors = [*form.slug.errors, exc.message]
            else:
                response = RedirectResponse(request.url_for("admin:show_event", slug=event.slug), status_code=303)
                return flash(request, response, "The event is created as a draft: nobody sees it until you publish it.")
        else:
            status = 422
    else:
        programme = request.query_params.get("programme", "")[:40]
        initial = {"timezone": request.app.state.settings.timezone, "programme": programme, "reminders_choice": "default"}
        form = _with_programmes(request, NewEventForm(data=initial), data.programmes)
    return page(request, "admin/event_form.html", _form_context(data, form, None, problem), status_code=status)


def saved_messages(report: editing.UpdateReport) -> list[str]:
    """What saving an event did, each count with its singular and plural."""
    messages = ["Saved." if report.changed else "Nothing changed."]
    if n := report.promoted:
        now_seated = "has a seat and is" if n == 1 else "have seats and are"
        messages.append(f"{plural(n, 'person', 'people')} from the waiting list now {now_seated} being emailed.")
    if n := report.notified:
        messages.append(f"{plural(n, 'registrant')} {'is' if n == 1 else 'are'} being emailed about the new time or place.")
    if n := report.over_capacity:
        messages.append(
            f"{plural(n, 'more person', 'more people')} {'is' if n == 1 else 'are'} confirmed than the new capacity allows. "
            + ("They keep their seat; nobody else gets one until a confirmed person cancels." if n == 1
               else "They keep their seats; nobody else gets one until enough of them cancel.")
        )
    return messages


def cancelled_message(told: int) -> str:
    """What cancelling an event did, the count with its singular and plural."""
    if not told:
        return "The event is cancelled; nobody registered needed telling. The feeds show it as cancelled."
    return f"The event is cancelled. {plural(told, 'registrant')} {'is' if told == 1 else 'are'} being emailed; the feeds show it as cancelled."


@require_organiser
async def edit_event(request: Request) -> Response:
    slug = request.path_params["slug"]
    data = await uow(request, editing.event_form, slug)
    problem, status = None, 200
    if request.method == "POST":
        form = _with_programmes(request, EventForm(await read_form(request)), data.programmes)
        if form.validate():
            try:
                report = await uow(request, editing.update_event, site(request), actor(request), slug, form.values(), write=True)
            except InvalidInput as exc:
                problem, status = exc.message, exc.status_code
            else:
                response = RedirectResponse(request.url_for("admin:show_event", slug=slug), status_code=303)
                return flash(request, response, *saved_messages(report))
        else:
            status = 422
    else:
        form = _with_programmes(request, EventForm(data=EventForm.data_of(data.event, data.programme_code)), data.programmes)
    return page(request, "admin/event_form.html", _form_context(data, form, data.event, problem), status_code=status)


async def _status_action(request: Request, service: object, done: str) -> Response:
    slug = request.path_params["slug"]
    await read_form(request)
    response = RedirectResponse(request.url_for("admin:show_event", slug=slug), status_code=303)
    try:
        await uow(request, service, actor(request), slug, write=True)  # type: ignore[arg-type]
    except InvalidTransition as exc:
        return flash(request, response, exc.message)
    return flash(request, response, done)


@require_organiser
async def publish_event(request: Request) -> Response:
    return await _status_action(request, editing.publish_event, "Published: the event is on the public site and in the calendar feeds.")


@require_organiser
async def unpublish_event(request: Request) -> Response:
    return await _status_action(request, editing.unpublish_event, "Unpublished: the event is a draft again.")


@require_organiser
async def cancel_event(request: Request) -> Response:
    slug = request.path_params["slug"]
    if request.method == "POST":
        await read_form(request)
        response = RedirectResponse(request.url_for("admin:show_event", slug=slug), status_code=303)
        try:
            told = await uow(request, editing.cancel_event, site(request), actor(request), slug, write=True)
        except InvalidTransition as exc:
            return flash(request, response, exc.message)
        return flash(request, response, cancelled_message(told))
    event, active = await uow(request, editing.cancellation_preview, slug)
    return page(request, "admin/event_cancel.html", {"event": event, "active": active})


@require_organiser
async def duplicate_event(request: Request) -> Response:
    slug = request.path_params["slug"]
    suggestion = await uow(request, editing.suggest_duplicate, slug)
    source = suggestion.event
    problem, status = None, 200
    if request.method == "POST":
        form = DuplicateForm(await read_form(request))
        if form.validate():
            starts_at = aware(form.starts_at.data, source.timezone)
            assert starts_at is not None
            try:
                event = await uow(
                    request, editing.duplicate_event, actor(request), slug, form.slug.data or "", form.title.data or "", starts_at, write=True
                )
            except (InvalidInput, AlreadyExists) as exc:
                problem, status = exc.message, exc.status_code
                if isinstance(exc, AlreadyExists):
                    form.slug.errors = [*form.slug.errors, exc.message]
            else:
                response = RedirectResponse(request.url_for("admin:edit_event", slug=event.slug), status_code=303)
                return flash(request, response, f"A draft copy of “{source.title}” is made. Check its details, then publish it.")
        else:
            status = 422
    else:
        form = DuplicateForm(data={"slug": suggestion.slug, "title": suggestion.title, "starts_at": local(suggestion.starts_at, source.timezone)})
    return page(request, "admin/event_duplicate.html", {"form": form, "event": source, "problem": problem}, status_code=status)


@require_organiser
async def list_programmes(request: Request) -> Response:
    programmes = await uow(request, programme_admin.list_programmes, _theirs(request))
    return page(request, "admin/programmes.html", {"programmes": programmes})


@require_organiser
async def new_programme(request: Request) -> Response:
    problem, status = None, 200
    if request.method == "POST":
        form = NewProgrammeForm(await read_form(request))
        if form.validate():
            try:
                await uow(request, programme_admin.create_programme, actor(request), form.code.data or "", form.values(), write=True)
            except (InvalidInput, AlreadyExists) as exc:
                problem, status = exc.message, exc.status_code
            else:
                return flash(request, RedirectResponse(request.url_for("admin:list_programmes"), status_code=303), "The programme is created.")
        else:
            status = 422
    else:
        form = NewProgrammeForm()
    return page(request, "admin/programme_form.html", {"form": form, "programme": None, "problem": problem}, status_code=status)


@require_organiser
async def edit_programme(request: Request) -> Response:
    code = request.path_params["code"]
    programme = await uow(request, programme_by_code, code)
    status = 200
    if request.method == "POST":
        form = ProgrammeForm(await read_form(request))
        if form.validate():
            await uow(request, programme_admin.update_programme, actor(request), code, form.values(), write=True)
            return flash(request, RedirectResponse(request.url_for("admin:list_programmes"), status_code=303), "The programme is saved.")
        status = 422
    else:
        form = ProgrammeForm(obj=programme)
    return page(request, "admin/programme_form.html", {"form": form, "programme": programme, "problem": None}, status_code=status)


routes = [
    Route("/", dashboard, name="dashboard"),
    Route("/events", list_events, name="list_events"),
    Route("/events/new", new_event, name="new_event", methods=["GET", "POST"]),
    Route("/events/{slug}/edit", edit_event, name="edit_event", methods=["GET", "POST"]),
    Route("/events/{slug}/publish", publish_event, name="publish_event", methods=["POST"]),
    Route("/events/{slug}/unpublish", unpublish_event, name="unpublish_event", methods=["POST"]),
    Route("/events/{slug}/cancel", cancel_event, name="cancel_event", methods=["GET", "POST"]),
    Route("/events/{slug}/duplicate", duplicate_event, name="duplicate_event", methods=["GET", "POST"]),
    Route("/programmes", list_programmes, name="list_programmes"),
    Route("/programmes/new", new_programme, name="new_programme", methods=["GET", "POST"]),
    Route("/programmes/{code}/edit", edit_programme, name="edit_programme", methods=["GET", "POST"]),
]
