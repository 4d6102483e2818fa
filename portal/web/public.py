"""The participants' pages: browse, register, manage one's registration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal.calendars.ical import google_calendar_link
from portal.catalogue import listing, schemaorg
from portal.errors import ChoiceFull, EventFull, InvalidTransition, NotFound, RegistrationClosed, SessionChoiceProblem
from portal.forms.questions import QuestionForm, Sent, held_places
from portal.forms.registration import details_form, registration_form
from portal.registrations import choices, limits, manage, participants, uploads
from portal.registrations.choices import SessionOption
from portal.registrations.limits import RegistrationLimits, TooManyRequests
from portal.registrations.participants import StoredFile, Submission
from portal.sealing import Keyring
from portal.site import path_for
from portal.web import sentto
from portal.web.csrf import read_form
from portal.web.pagecache import shared_page, shows_seats
from portal.web.params import date_range_params, page_number, text_param
from portal.web.plumbing import PRIVATE, public_route, render, send_upload, site, uow
from portal.web.security import client_address

PER_PAGE = 20


def _path(request: Request, name: str) -> str:
    """A path parameter; one holding NUL names nothing (and PostgreSQL refuses to look it up)."""
    value: str = request.path_params[name]
    if "\x00" in value:
        raise NotFound("There is nothing at this address.")
    return value


@shared_page
async def home(request: Request) -> Response:
    data = await uow(request, listing.get_home)
    shows_seats(request, (card.event.id for card in data.upcoming))
    return render(request, "public/home.html", {"home": data})


@shared_page
async def list_events(request: Request) -> Response:
    past = request.query_params.get("when") == "past"
    date_from, date_to = date_range_params(request)
    filters = {
        "programme": text_param(request, "programme"),
        "category": text_param(request, "category"),
        "q": text_param(request, "q"),
        "date_from": date_from,
        "date_to": date_to,
    }
    tz = request.app.state.settings.timezone
    data = await uow(request, listing.get_listing, past=past, tz=tz, page=page_number(request), per_page=PER_PAGE, **filters)
    shows_seats(request, (card.event.id for card in data.page.items))
    return render(
        request,
        "public/events.html",
        {
            "page": data.page, "past": past, "filters": filters, "categories": data.categories, "programmes": data.programmes,
            "timetable_hits": data.timetable_hits, "this_month": data.this_month,
        },
    )


@shared_page
async def show_event(request: Request) -> Response:
    data = await uow(request, listing.get_event_page, _path(request, "slug"), with_timetable=True)
    # Its seats, and the places left of its sessions (a session's choice bumps the event's).
    shows_seats(request, [data.event.id])
    here = site(request)
    context = {
        "data": data,
        # Structured data for search engines, escaped so that nothing in it ends its <script>.
        "jsonld": Markup(schemaorg.page_script(data, here)),
        "google_link": google_calendar_link(data.event, here.event_url(data.event.slug)),
    }
    return render(request, "public/event.html", context)


async def _files_sent(formdata: FormData, limits: dict[str, int]) -> dict[str, Sent]:
    """The files the request holds for the form's file questions, each read up to its
    question's limit and one byte more (enough to refuse it as too large)."""
    files: dict[str, Sent] = {}
    for key, limit in limits.items():
        upload = formdata.get(key)
        if isinstance(upload, UploadFile):
            content = await upload.read(limit + 1)
            if upload.filename or content:
                files[key] = Sent(upload.filename or "", content)
    await formdata.close()
    return files


def _keep_files(directory: Path, keyring: Keyring, form: QuestionForm) -> list[StoredFile]:
    """Write the form's checked files under the upload directory (it is valid: nothing is
    written for a form that comes back); a sensitive question's file sealed with the keys."""
    kept: list[StoredFile] = []
    try:
        for question, sent in form.files_sent():
            stored = uploads.save(directory, keyring.seal(sent.content) if question.sensitive else sent.content)
            kept.append(StoredFile(
                key=question.key, filename=uploads.clean_filename(sent.filename), content_type=form.content_type(question.key),
                size=len(sent.content), stored_name=stored, sealed=question.sensitive,
            ))
    except BaseException:
        uploads.discard(directory, [f.stored_name for f in kept])
        raise
    return kept


# The session checkboxes' name: a hyphen, which no question's key may hold (questions.schema
# KEY_PATTERN), so a form with a question keyed "sessions" (the demo conference's days) keeps
# its answers apart from the sessions chosen.
SESSION_FIELD = "session-choice"


def _sessions_sent(formdata: FormData, offered: list[SessionOption]) -> tuple[str, ...]:
    """The keys of the sessions ticked (`session-choice`, one value each), in the order offered;
    a key the page did not offer is kept, so that the service refuses it in words."""
    sent = [v for v in formdata.getlist(SESSION_FIELD) if isinstance(v, str) and 0 < len(v) <= 120]
    order = {option.session.key: i for i, option in enumerate(offered)}
    return tuple(sorted(dict.fromkeys(sent), key=lambda k: order.get(k, len(order))))


async def register(request: Request) -> Response:
    slug = _path(request, "slug")
    # The event is read once: it decides the form's questions and is shown again if the form
    # comes back.
    data = await uow(request, listing.get_event_page, slug, with_form=True)
    form_type = registration_form(data.form, data.form_key)
    settings = request.app.state.settings
    options = {"taken": data.places_taken, "phone_region": settings.phone_region}
    if request.method != "POST":
        status = 200 if data.state.can_register else 409
        context = {"data": data, "form": form_type(**options), "problem": None, "chosen": (), "session_problem": None}
        return render(request, "public/register.html", context, status_code=status)
    formdata = await read_form(request, max_files=form_type.file_count, max_fields=form_type.max_fields + len(data.sessions))
    chosen = _sessions_sent(formdata, data.sessions)
    form = form_type(formdata, files=await _files_sent(formdata, form_type.file_limits()), **options)
    if form["website"].data:
        # The honeypot was filled in: a bot. Answer as if it worked; keep nothing.
        return RedirectResponse(request.url_for("registered", slug=slug), status_code=303)
    problem, status, headers = None, 422, None
    session_problem: SessionChoiceProblem | None = None
    if form.validate():
        directory = settings.upload_directory
        stored = await run_in_threadpool(_keep_files, directory, settings.keyring, form)
        submission = Submission(
            name=form["name"].data or "", email=form["email"].data or "", organisation=form["organisation"].data or "",
            answers=form.answers(), files=tuple(stored), sessions=chosen,
        )
        allowed = RegistrationLimits(settings.registrations_per_ip_per_minute, settings.registrations_per_email_per_minute)
        created = False
        try:
            outcome = await uow(
                request, limits.register_within_limits, site(request), slug, submission, client_address(request), allowed, write=True,
            )
            created = outcome.created
        except (RegistrationClosed, EventFull) as exc:
            problem, status = exc.message, 409
            data = data.refused(full=isinstance(exc, EventFull))
        except ChoiceFull as exc:
            # Everything else stays as typed; the question says its choice is now full.
            form.choice_full(exc.key, exc.value, exc.message)
            status = 409
        except SessionChoiceProblem as exc:
            # The sessions come back as chosen, the one at fault marked, and the page read
            # again so that a session that filled meanwhile shows as full.
            session_problem = exc
            status = 409
            data = await uow(request, listing.get_event_page, slug, with_form=True)
        except TooManyRequests as exc:
            # The form comes back as typed, so sending it again later is one click.
            problem, status, headers = exc.message, 429, {"Retry-After": str(exc.retry_after)}
        else:
            # The address typed goes with the redirect, whether it was new or registered already.
            done = RedirectResponse(request.url_for("registered", slug=slug), status_code=303)
            return sentto.remember(request, done, submission.email, path_for("registered", slug=slug))
        finally:
            # A registration refused, or an address already registered (which must look the
            # same to the visitor), keeps none of the files written for it.
            if not created:
                await run_in_threadpool(uploads.discard, directory, [f.stored_name for f in stored])
    context = {"data": data, "form": form, "problem": problem, "chosen": chosen, "session_problem": session_problem}
    return render(request, "public/register.html", context, status_code=status, headers=headers)


async def registered(request: Request) -> Response:
    """What a participant can rely on after registering: the same page for a new and an
    already-registered address (it shows only the event's public state and what they typed)."""
    data = await uow(request, listing.get_event_page, _path(request, "slug"))
    return render(request, "public/registered.html", {"data": data, "email": sentto.recall(request)}, headers=PRIVATE)


@shared_page
async def list_programmes(request: Request) -> Response:
    programmes = await uow(request, listing.list_programmes)
    return render(request, "public/programmes.html", {"programmes": programmes})


@shared_page
async def show_programme(request: Request) -> Response:
    data = await uow(request, listing.get_programme_page, _path(request, "code"))
    shows_seats(request, (card.event.id for card in [*data.upcoming, *data.past]))
    return render(request, "public/programme.html", {"data": data})




def _details_form(request: Request, page: manage.ManagePage, formdata: FormData | None = None) -> QuestionForm:
    """The manage page's form of details: as sent (`formdata`), else as stored."""
    registration = page.view.registration
    stored = page.answers  # the participant's own: the sensitive ones opened
    cls = details_form(page.form, page.form_key)
    options = {
        "taken": page.places_taken,
        "held": held_places(page.form, stored),
        "fixed": cls.fixed_answers(stored, nominator_fixed=registration.endorsement is not None),
        "stored_files": page.files,
        "phone_region": request.app.state.settings.phone_region,
    }
    if formdata is not None:
        return cls(formdata, **options)
    return cls(data={"name": registration.name, "organisation": registration.organisation, **stored}, **options)


def _manage_page(request: Request, page: manage.ManagePage, form: QuestionForm, status: int = 200, **shown: Any) -> Response:
    context = {
        "view": page.view, "page": page, "form": form, "ticket": page.ticket, "certificate": page.certificate,
        "saved": False, "problem": None, "session_problem": None, "chosen": (), "sessions_saved": False, **shown,
    }
    return render(request, "public/manage.html", context, status_code=status, headers=PRIVATE)


async def manage_registration(request: Request) -> Response:
    token = _path(request, "token")
    page = await uow(request, manage.manage_page, token)
    registration = page.view.registration
    if request.method != "POST":
        saved, sessions_saved = request.query_params.get("saved") == "1", request.query_params.get("sessions") == "saved"
        return _manage_page(request, page, _details_form(request, page), saved=saved, sessions_saved=sessions_saved)
    cls = details_form(page.form, page.form_key)
    form = _details_form(request, page, await read_form(request, max_fields=cls.max_fields))
    problem, status = None, 422
    if form.validate():
        submission = Submission(
            name=form["name"].data or "", email=registration.email,
            organisation=form["organisation"].data or "", answers=form.merged_answers(page.answers),
        )
        try:
            await uow(request, participants.update_details, token, submission, write=True)
        except InvalidTransition as exc:
            problem, status = exc.message, 409
        except ChoiceFull as exc:
            form.choice_full(exc.key, exc.value, exc.message)
            status = 409
        else:
            return RedirectResponse(request.url_for("manage_registration", token=token).include_query_params(saved=1), status_code=303)
    return _manage_page(request, page, form, status, problem=problem)


async def choose_sessions(request: Request) -> Response:
    """The participant's conference sessions, chosen again from the manage page."""
    token = _path(request, "token")
    page = await uow(request, manage.manage_page, token)
    chosen = _sessions_sent(await read_form(request, max_fields=len(page.sessions) + 100), page.sessions)
    try:
        await uow(request, choices.change_sessions, site(request), token, list(chosen), write=True)
    except (SessionChoiceProblem, InvalidTransition) as exc:
        # Read again: the places (and the registration) may have changed under the choice.
        page = await uow(request, manage.manage_page, token)
        problem = exc if isinstance(exc, SessionChoiceProblem) else SessionChoiceProblem(exc.message)
        return _manage_page(request, page, _details_form(request, page), 409, session_problem=problem, chosen=chosen)
    target = request.url_for("manage_registration", token=token).include_query_params(sessions="saved")
    return RedirectResponse(f"{target}#sessions-heading", status_code=303)


async def show_ticket(request: Request) -> Response:
    """The printable ticket, for the holder of the private link: one page, no navigation. A
    registration that has no ticket (not confirmed) gets a 404 that says why."""
    page = await uow(request, manage.ticket_page, _path(request, "token"))
    context = {"view": page.view, "ticket": page.ticket}
    return render(request, "public/ticket.html", context, status_code=200 if page.ticket else 404, headers=PRIVATE)


async def download_upload(request: Request) -> Response:
    """A file the registrant sent, for the holder of the manage link only: always as a
    download (never shown in the browser, whatever it holds), never kept by a cache."""
    directory = request.app.state.settings.upload_directory
    download = await uow(request, uploads.download_for_holder, directory, _path(request, "token"), _path(request, "key"))
    return send_upload(download, PRIVATE)


async def cancel_registration(request: Request) -> Response:
    token = _path(request, "token")
    if request.method == "POST":
        await read_form(request)
        try:
            await uow(request, participants.cancel, site(request), token, write=True)
        except InvalidTransition as exc:
            view = await uow(request, participants.view_registration, token)
            return render(request, "public/cancel.html", {"view": view, "problem": exc.message}, status_code=409, headers=PRIVATE)
        return RedirectResponse(request.url_for("manage_registration", token=token), status_code=303)
    view = await uow(request, participants.view_registration, token)
    return render(request, "public/cancel.html", {"view": view, "problem": None}, headers=PRIVATE)


routes = [
    public_route("home", home),
    public_route("list_events", list_events),
    public_route("show_event", show_event),
    public_route("register", register, methods=["GET", "POST"]),
    public_route("registered", registered),
    public_route("list_programmes", list_programmes),
    public_route("show_programme", show_programme),
    public_route("manage_registration", manage_registration, methods=["GET", "POST"]),
    public_route("download_upload", download_upload),
    public_route("cancel_registration", cancel_registration, methods=["GET", "POST"]),
    public_route("show_ticket", show_ticket),
    public_route("choose_sessions", choose_sessions, methods=["POST"]),
]
