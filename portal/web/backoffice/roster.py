"""Rosters in the back office: the event's roster page, actions on one or many
registrations, one registration with its trail, the door's check-in, the event's audit log,
and the export."""

from __future__ import annotations

import secrets

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from portal.catalogue import eventmail
from portal.errors import InvalidTransition
from portal.forms.fields import first_error
from portal.forms.organiser_edits import NoteForm, WalkInForm
from portal.forms.rosters import BulkActionForm, CheckInActionForm, RegistrationActionForm, RosterQueryForm
from portal.models import RegistrationStatus
from portal.registrations import actions, organiser_edits, uploads
from portal.registrations.actions import ActionReport, RosterAction
from portal.rosters import charts, data_access, door, exports
from portal.rosters import roster as rosters
from portal.rosters.columns import roster_columns
from portal.rosters.numbers import NumbersCache
from portal.web.backoffice.auth import require_organiser, require_organiser_download
from portal.web.backoffice.base import actor, flash, page
from portal.web.backoffice.door import PERMISSIONS, scanner_context
from portal.web.backoffice.registration_edit import WALK_IN_PREFIX
from portal.web.csrf import read_form
from portal.web.params import text_param
from portal.web.plumbing import send_upload, site, uow

_DONE = {
    RosterAction.APPROVE: "Approved",
    RosterAction.REJECT: "Rejected",
    RosterAction.WAITLIST: "Moved to the waiting list",
    RosterAction.PROMOTE: "Promoted",
    RosterAction.CANCEL: "Cancelled",
    RosterAction.CHECK_IN: "Checked in",
    RosterAction.UNDO_CHECK_IN: "Check-in undone",
}
_OUTCOME = {
    RegistrationStatus.CONFIRMED: "given a seat",
    RegistrationStatus.WAITLISTED: "put on the waiting list, as no seat was free",
}


def report_messages(report: ActionReport, *, names: bool = False) -> list[str]:
    """What an action did, in a few lines for the page the organiser returns to."""
    messages = []
    changed = report.changed
    if changed:
        label = _DONE[report.action]
        if names:
            messages.append(f"{label}: {', '.join(r.name for r in changed)}.")
        else:
            messages.append(f"{label}: {len(changed)}.")
        if report.action == RosterAction.APPROVE:
            for status, words in _OUTCOME.items():
                n = sum(1 for r in changed if r.after == status)
                if n and n != len(changed):
                    messages.append(f"{n} {words}.")
                elif n and status == RegistrationStatus.WAITLISTED:
                    messages.append(f"All {words}.")
    skipped = report.skipped
    for result in skipped[:5]:
        who = result.name or f"Registration {result.registration_id}"
        messages.append(f"Not changed: {who} {result.problem}.")
    if len(skipped) > 5:
        n = len(skipped) - 5
        messages.append(f"{n} more {'was' if n == 1 else 'were'} not changed for the same kinds of reasons.")
    if report.promoted:
        shown = ", ".join(name for _, name in report.promoted[:10])
        more = f" and {len(report.promoted) - 10} more" if len(report.promoted) > 10 else ""
        messages.append(f"Freed seats went to the first on the waiting list: {shown}{more}.")
    return messages


def _query(form: RosterQueryForm) -> rosters.RosterQuery:
    return rosters.RosterQuery(
        status=RegistrationStatus(form.status.data) if form.status.data else None,
        q=form.q.data or "",
        sort=form.sort.data,
        descending=form.dir.data == "desc",
        after=form.after.data or None,
        before=form.before.data or None,
        last=form.last.data == "1",
        question=form.question.data or "",
        answer=(form.answer.data or "") if form.question.data else "",
    )


def _bad_link(form: RosterQueryForm) -> HTTPException:
    return HTTPException(400, f"This roster link has a value the portal does not understand ({first_error(form)}). Open the roster again from the event.")


class IdLinks:
    """The URLs of one route for many ids, from one url_for: `links(42)`. url_for walks the
    routing table (about a quarter of a millisecond a call), and once per row it was a quarter
    of the roster page's time; this calls it once and puts each id in its place."""

    _PLACEHOLDER = 918273645546372819

    def __init__(self, request: Request, name: str) -> None:
        url = str(request.url_for(name, id=self._PLACEHOLDER))
        self._before, found, self._after = url.partition(str(self._PLACEHOLDER))
        if not found or str(self._PLACEHOLDER) in self._after:
            raise RuntimeError(f"route {name} does not put the id in its URL once: {url}")

    def __call__(self, id: int) -> str:
        return f"{self._before}{int(id)}{self._after}"


def _numbers_cache(request: Request) -> NumbersCache:
    """This app's cache of events' counts and charts (made in create_app)."""
    cache: NumbersCache = request.app.state.roster_numbers
    return cache


@require_organiser
async def show_event(request: Request) -> Response:
    form = RosterQueryForm(request.query_params)
    if not form.validate():
        raise _bad_link(form)
    if actor(request).is_door:
        return await _door_roster(request, form)
    data = await uow(request, rosters.roster, request.path_params["slug"], _query(form), _numbers_cache(request))
    mail = await uow(request, eventmail.event_mail, data.event.slug, request.app.state.settings.reminders)
    shown = await uow(request, roster_columns, actor(request).id)
    context = {
        "data": data, "form": form, "params": form.link_params(), "mail": mail, "columns": shown,
        "chart": charts.event_chart(data.chart, data.event.capacity, data.confirmed),
        "registration_url": IdLinks(request, "admin:show_registration"),
        "roster_base": request.url_for("admin:show_event", slug=data.event.slug),
    }
    return page(request, "admin/event.html", context)


async def _door_roster(request: Request, form: RosterQueryForm) -> Response:
    """The roster as a door volunteer sees it: names, organisations, status and check-in, by
    name; never an email, an answer, a link to a registration, an action or an export."""
    query = _query(form)
    query = rosters.RosterQuery(
        status=query.status, q=query.q, sort="name", after=query.after, before=query.before, last=query.last,
        search_email=False,
    )
    data = await uow(request, rosters.roster, request.path_params["slug"], query, _numbers_cache(request))
    params = {k: v for k, v in {"status": form.status.data or "", "q": form.q.data or ""}.items() if v}
    context = {
        "data": data, "form": form, "params": params,
        "roster_base": request.url_for("admin:show_event", slug=data.event.slug),
    }
    return page(request, "admin/door_roster.html", context)


@require_organiser
async def update_registrations(request: Request) -> Response:
    slug = request.path_params["slug"]
    form = BulkActionForm(await read_form(request))
    valid = form.validate()
    if not valid and set(form.errors) != {"note"}:
        raise _bad_link(form)
    # Back to the roster as it was shown: its filter, sort and page.
    shown = {**form.link_params(), **form.page_params()}
    back = RedirectResponse(request.url_for("admin:show_event", slug=slug).include_query_params(**shown), status_code=303)
    if not form.id.data:
        return flash(request, back, "Select at least one registration first, with the boxes in the first column.")
    action = RosterAction(form.action.data)
    if action in actions.EMAILING and (form.confirmed.data != "yes" or not valid):
        # Whom it would email, and a note for them, before anything changes.
        try:
            plan = await uow(request, actions.plan_action, slug, action, list(form.id.data))
        except InvalidTransition as exc:  # too many selected, or a cancelled event
            return flash(request, back, exc.message)
        context = {
            "plan": plan, "form": form, "nonce": form.nonce.data or secrets.token_urlsafe(24),
            "action_url": request.url_for("admin:update_registrations", slug=slug),
            "hidden": [*shown.items(), *(("id", i) for i in form.id.data)], "back_url": str(back.headers["location"]),
        }
        return page(request, "admin/confirm_action.html", context, status_code=200 if valid else 422)
    try:
        report = await uow(
            request, actions.act_on_registrations, site(request), actor(request), slug, action, list(form.id.data),
            note=form.note.data or "", nonce=form.nonce.data or "", write=True,
        )
    except InvalidTransition as exc:  # too many selected, or a cancelled event: nothing changed
        return flash(request, back, exc.message)
    if report.repeated:
        return flash(request, back, "This was done already: the same confirmation came twice, and acted once.")
    return flash(request, back, *report_messages(report))


def _registration_id(request: Request) -> int:
    return request.path_params["id"]


@require_organiser
async def show_registration(request: Request) -> Response:
    detail = await uow(request, rosters.registration_detail, _registration_id(request))
    notes = await uow(request, organiser_edits.notes_of, _registration_id(request))
    return page(request, "admin/registration.html", {"detail": detail, "notes": notes, "note_form": NoteForm()})


@require_organiser
async def reveal_answer(request: Request) -> Response:
    """One sensitive answer, shown on the page that answers the POST (never in a redirect's
    URL or a cookie), once: the registration's page again shows it masked."""
    form = await read_form(request)
    # Named "reveal": the roster's bulk form, which the roster's buttons send here, also
    # carries its answer filter as "question" (still taken alone).
    key = form.get("reveal") or form.get("question")
    if not isinstance(key, str) or not key or len(key) > 100:
        raise HTTPException(400, "Choose the answer to reveal with its button on the registration's page.")
    revealed = await uow(request, data_access.reveal_answer, actor(request), _registration_id(request), key, write=True)
    detail = await uow(request, rosters.registration_detail, _registration_id(request))
    notes = await uow(request, organiser_edits.notes_of, _registration_id(request))
    context = {"detail": detail, "notes": notes, "note_form": NoteForm(), "revealed": revealed}
    return page(request, "admin/registration.html", context, headers={"Cache-Control": "no-store"})


@require_organiser
async def update_registration(request: Request) -> Response:
    form = RegistrationActionForm(await read_form(request))
    valid = form.validate()
    back = RedirectResponse(request.url_for("admin:show_registration", id=_registration_id(request)), status_code=303)
    if not valid and set(form.errors) == {"note"}:
        return flash(request, back, f"Nothing was changed: {form.note.errors[0]}")
    if not valid:
        raise HTTPException(400, "That is not an action the portal knows.")
    note = form.note.data or ""
    if form.action.data == RosterAction.CANCEL and form.confirmed.data != "yes":
        preview = await uow(request, rosters.registration_cancel_preview, _registration_id(request))
        context = {
            "preview": preview, "action_url": request.url_for("admin:update_registration", id=_registration_id(request)),
            "hidden": [("note", note)] if note else [], "back_url": str(back.headers["location"]),
        }
        return page(request, "admin/confirm_cancel.html", context)
    try:
        report = await uow(
            request, actions.act_on_registration, site(request), actor(request), _registration_id(request),
            RosterAction(form.action.data), note=note, write=True,
        )
    except InvalidTransition as exc:
        return flash(request, back, exc.message)
    return flash(request, back, *report_messages(report, names=True))


@require_organiser
async def check_in(request: Request) -> Response:
    q = text_param(request, "q") or ""
    # A door volunteer finds people by name or organisation only, never by part of an email.
    by_email = not actor(request).is_door
    data = await uow(request, door.check_in_list, request.path_params["slug"], q, search_email=by_email)
    context = {
        "data": data, "q": q, "search_email": by_email, "check_in_url": IdLinks(request, "admin:check_in_registration"),
        "walk_in": WalkInForm(prefix=WALK_IN_PREFIX), **scanner_context(request),
    }
    return page(request, "admin/check_in.html", context, headers=PERMISSIONS)


@require_organiser
async def check_in_registration(request: Request) -> Response:
    form = CheckInActionForm(await read_form(request))
    if not form.validate():
        raise HTTPException(400, "That is not a check-in action.")
    try:
        report = await uow(
            request, actions.act_on_registration, site(request), actor(request), _registration_id(request),
            RosterAction(form.action.data), door="door page", write=True,
        )
    except InvalidTransition as exc:
        slug = await uow(request, actions.event_slug_of, _registration_id(request))
        return flash(request, RedirectResponse(request.url_for("admin:check_in", slug=slug), status_code=303), exc.message)
    url = request.url_for("admin:check_in", slug=report.event_slug)
    if form.action.data == RosterAction.UNDO_CHECK_IN and form.q.data:
        url = url.include_query_params(q=form.q.data)
    return flash(request, RedirectResponse(url, status_code=303), *report_messages(report, names=True))


@require_organiser
async def event_audit(request: Request) -> Response:
    raw = request.query_params.get("before", "")
    if raw and not (raw.isdigit() and len(raw) < 19):
        raise HTTPException(400, "This page link is damaged. Open the audit log again from the event.")
    data = await uow(request, rosters.event_audit, request.path_params["slug"], before_id=int(raw) if raw else None)
    return page(request, "admin/event_audit.html", {"data": data})


@require_organiser_download
async def export_roster(request: Request) -> Response:
    fmt = request.path_params["fmt"]
    if fmt not in exports.FORMATS:
        raise HTTPException(404, "The roster can be exported as .csv or .xlsx.")
    # Sensitive answers only for the questions named (?include=KEY, repeatable): keys, not values.
    include = [k for k in request.query_params.getlist("include") if k]
    if len(include) > 100 or any(len(k) > 100 for k in include):
        raise HTTPException(400, "This export link names too many questions. Open the roster again and choose them there.")
    info = await uow(request, exports.export_info, request.path_params["slug"], include)
    filename = info.filename(fmt)
    # One read transaction for the whole file, so it is a consistent snapshot, streamed from
    # one query; then the export is recorded with its rows and bytes.
    return StreamingResponse(
        data_access.roster_export_stream(request.app.state.sessions, actor(request), info, fmt),
        media_type=exports.FORMATS[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "X-Content-Type-Options": "nosniff"},
    )


@require_organiser
async def download_upload(request: Request) -> Response:
    """A file a registrant sent, always as a download (never shown in the browser); a sealed
    one is opened, and its download recorded in the audit log as a reveal."""
    directory = request.app.state.settings.upload_directory
    download = await uow(
        request, uploads.download_for_organiser, directory, actor(request), _registration_id(request), request.path_params["key"],
        write=True,
    )
    return send_upload(download)


routes = [
    Route("/events/{slug}", show_event, name="show_event"),
    Route("/events/{slug}/registrations", update_registrations, name="update_registrations", methods=["POST"]),
    Route("/events/{slug}/check-in", check_in, name="check_in"),
    Route("/events/{slug}/audit", event_audit, name="event_audit"),
    Route("/events/{slug}/export.{fmt}", export_roster, name="export_roster"),
    Route("/registrations/{id:int}", show_registration, name="show_registration"),
    Route("/registrations/{id:int}/action", update_registration, name="update_registration", methods=["POST"]),
    Route("/registrations/{id:int}/reveal", reveal_answer, name="reveal_answer", methods=["POST"]),
    Route("/registrations/{id:int}/check-in", check_in_registration, name="check_in_registration", methods=["POST"]),
    Route("/registrations/{id:int}/files/{key}", download_upload, name="download_upload"),
]
