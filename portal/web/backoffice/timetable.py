"""An event's timetable in the back office: its sessions by day, adding, editing (and so
moving), cancelling, restoring and deleting one; a session's roster, its CSV export and its
check-in."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.datastructures import URL
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.catalogue import timetable_admin as editor
from portal.catalogue.timetable import Clash, SessionProblem
from portal.errors import InvalidTransition
from portal.forms.timetable import NewSessionForm, SessionCheckInForm, SessionForm
from portal.models import Event, event_by_slug
from portal.rosters import data_access
from portal.rosters import session_roster as rosters
from portal.rosters.exports import FORMATS
from portal.templating import plural
from portal.web.backoffice.auth import require_organiser, require_organiser_download
from portal.web.backoffice.base import actor, flash, page
from portal.web.csrf import read_form
from portal.web.params import page_number, text_param
from portal.web.plumbing import site, uow


def _slug(request: Request) -> str:
    return request.path_params["slug"]


def _key(request: Request) -> str:
    return request.path_params["key"]


def _to_timetable(request: Request, anchor: str | None = None) -> RedirectResponse:
    url = str(request.url_for("admin:list_sessions", slug=_slug(request)))
    return RedirectResponse(f"{url}#session-{anchor}" if anchor else url, status_code=303)


def clash_warnings(found: list[Clash]) -> list[str]:
    return [f"Warning: {clash}." for clash in found]


class KeyLinks:
    """The URLs of one route for many keys (sessions', speakers'), from one url_for, as
    roster.IdLinks does for ids: url_for per row was most of the timetable page's time (120
    sessions, five links each). A key is lowercase letters, digits and hyphens: safe in a path."""

    _PLACEHOLDER = "0-placeholder-key-0"

    def __init__(self, request: Request, name: str, **params: str) -> None:
        url = str(request.url_for(name, key=self._PLACEHOLDER, **params))
        self._before, found, self._after = url.partition(self._PLACEHOLDER)
        if not found or self._PLACEHOLDER in self._after:
            raise RuntimeError(f"route {name} does not put the key in its URL once: {url}")

    def __call__(self, key: str) -> str:
        return f"{self._before}{key}{self._after}"


@require_organiser
async def list_sessions(request: Request) -> Response:
    data = await uow(request, editor.timetable, _slug(request))
    slug = data.event.slug
    links = {
        name: KeyLinks(request, f"admin:{name}", slug=slug)
        for name in ("show_session", "edit_session", "cancel_session", "restore_session", "delete_session")
    }
    links["edit_speaker"] = KeyLinks(request, "admin:edit_speaker")
    return page(request, "admin/sessions.html", {"data": data, "e": data.event, "links": links})


def _refused(form: SessionForm, exc: SessionProblem) -> str | None:
    """Put a refusal on its field; the message for the top of the page if it has none."""
    if exc.field and exc.field in form:
        form[exc.field].errors = [*form[exc.field].errors, str(exc)]
        return None
    return str(exc)


def _saved(report: editor.SessionReport, what: str) -> list[str]:
    messages = [what]
    if report.told:
        messages.append(f"{plural(report.told, 'person who chose it is', 'people who chose it are')} being emailed about the change.")
    if report.promoted:
        now_placed = "has a place and is" if report.promoted == 1 else "have places and are"
        messages.append(f"{plural(report.promoted, 'person', 'people')} from its waiting list now {now_placed} being told.")
    return messages + clash_warnings(report.clashes)


def _form_page(request: Request, event: Event, form: SessionForm, current: Any, problem: str | None, status: int) -> Response:
    context = {"e": event, "form": form, "current": current, "problem": problem}
    return page(request, "admin/session_form.html", context, status_code=status)


@require_organiser
async def new_session(request: Request) -> Response:
    event = await uow(request, event_by_slug, _slug(request))
    zone = ZoneInfo(event.timezone)
    problem, status = None, 200
    if request.method == "POST":
        form = NewSessionForm(await read_form(request))
        form.zone = zone
        if form.validate():
            try:
                report = await uow(request, editor.create_session, site(request), actor(request), event.slug, form.values(), write=True)
            except SessionProblem as exc:
                problem = _refused(form, exc)
            else:
                response = _to_timetable(request, report.session.key)
                return flash(request, response, *_saved(report, f"Added: {report.session.title}."))
        status = 422
    else:
        start = event.starts_at.replace(second=0, microsecond=0)
        form = NewSessionForm.editing({"starts_at": start, "ends_at": start + timedelta(hours=1)}, zone)
    return _form_page(request, event, form, None, problem, status)


@require_organiser
async def edit_session(request: Request) -> Response:
    current = await uow(request, editor.session_page, _slug(request), _key(request))
    zone = ZoneInfo(current.event.timezone)
    problem, status = None, 200
    if request.method == "POST":
        form = SessionForm(await read_form(request))
        form.zone = zone
        if form.validate():
            try:
                report = await uow(
                    request, editor.update_session, site(request), actor(request), current.event.slug, current.session.key,
                    form.values(), write=True,
                )
            except SessionProblem as exc:
                problem = _refused(form, exc)
            else:
                response = _to_timetable(request, report.session.key)
                return flash(request, response, *_saved(report, "Saved." if report.changed else "Nothing changed."))
        status = 422
    else:
        form = SessionForm.editing(editor.form_data(current.session, current.speakers), zone)
    return _form_page(request, current.event, form, current, problem, status)


@require_organiser
async def cancel_session(request: Request) -> Response:
    """GET: the page that asks first; POST: cancel."""
    if request.method != "POST":
        current = await uow(request, editor.session_page, _slug(request), _key(request))
        return page(request, "admin/session_cancel.html", {"current": current, "e": current.event})
    await read_form(request)
    response = _to_timetable(request, _key(request))
    try:
        report = await uow(request, editor.cancel_session, site(request), actor(request), _slug(request), _key(request), write=True)
    except InvalidTransition as exc:
        return flash(request, response, exc.message)
    told = f" {plural(report.told, 'person who chose it is', 'people who chose it are')} being emailed." if report.told else ""
    return flash(request, response, f"Cancelled: {report.session.title}. It stays on the timetable, marked cancelled.{told}")


@require_organiser
async def restore_session(request: Request) -> Response:
    await read_form(request)
    response = _to_timetable(request, _key(request))
    try:
        report = await uow(request, editor.restore_session, site(request), actor(request), _slug(request), _key(request), write=True)
    except InvalidTransition as exc:
        return flash(request, response, exc.message)
    return flash(request, response, *_saved(report, f"Back on the programme: {report.session.title}."))


@require_organiser
async def delete_session(request: Request) -> Response:
    """GET: the page that asks first (or says why it cannot be deleted); POST: delete."""
    if request.method != "POST":
        preview = await uow(request, editor.delete_preview, _slug(request), _key(request))
        return page(request, "admin/session_delete.html", {"preview": preview, "current": preview.page, "e": preview.page.event})
    await read_form(request)
    try:
        title = await uow(request, editor.delete_session, actor(request), _slug(request), _key(request), write=True)
    except InvalidTransition as exc:
        return flash(request, _to_timetable(request, _key(request)), exc.message)
    return flash(request, _to_timetable(request), f"Deleted: {title}.")


@require_organiser
async def show_session(request: Request) -> Response:
    q = text_param(request, "q")
    data = await uow(
        request, rosters.session_roster, _slug(request), _key(request), q=q, page=page_number(request),
        search_email=not actor(request).is_door,
    )
    return page(request, "admin/session_roster.html", {"data": data, "e": data.event, "q": q or ""})


@require_organiser_download
async def export_session(request: Request) -> Response:
    # Made whole (a session's roster is small), so the export is recorded with its size.
    filename, body = await uow(request, data_access.session_roster_file, actor(request), _slug(request), _key(request), write=True)
    return Response(
        body, media_type=FORMATS["csv"],
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "X-Content-Type-Options": "nosniff"},
    )


@require_organiser
async def check_in_session(request: Request) -> Response:
    form = SessionCheckInForm(await read_form(request))
    if not form.validate():
        raise HTTPException(400, "That is not a check-in button the portal knows. Open the session's roster again.")
    back: URL = request.url_for("admin:show_session", slug=_slug(request), key=_key(request))
    kept = {k: v for k, v in {"q": form.q.data or "", "page": str(form.page.data or "")}.items() if v}
    response = RedirectResponse(back.include_query_params(**kept) if kept else back, status_code=303)
    service = rosters.check_in_session if form.action.data == "check_in" else rosters.undo_session_check_in
    try:
        name = await uow(request, service, actor(request), _slug(request), _key(request), form.registration.data, write=True)
    except InvalidTransition as exc:
        return flash(request, response, exc.message)
    return flash(request, response, f"Checked in: {name}." if form.action.data == "check_in" else f"Check-in undone: {name}.")


routes = [
    Route("/events/{slug}/sessions", list_sessions, name="list_sessions"),
    Route("/events/{slug}/sessions/new", new_session, name="new_session", methods=["GET", "POST"]),
    Route("/events/{slug}/sessions/{key}", show_session, name="show_session"),
    Route("/events/{slug}/sessions/{key}/edit", edit_session, name="edit_session", methods=["GET", "POST"]),
    Route("/events/{slug}/sessions/{key}/cancel", cancel_session, name="cancel_session", methods=["GET", "POST"]),
    Route("/events/{slug}/sessions/{key}/restore", restore_session, name="restore_session", methods=["POST"]),
    Route("/events/{slug}/sessions/{key}/delete", delete_session, name="delete_session", methods=["GET", "POST"]),
    Route("/events/{slug}/sessions/{key}/export.csv", export_session, name="export_session"),
    Route("/events/{slug}/sessions/{key}/check-in", check_in_session, name="check_in_session", methods=["POST"]),
]
