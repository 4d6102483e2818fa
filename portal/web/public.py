"""The participants' pages: browse, register, manage one's registration."""

from __future__ import annotations

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal.calendars.ical import google_calendar_link
from portal.catalogue import listing, schemaorg
from portal.errors import EventFull, InvalidTransition, NotFound, RegistrationClosed
from portal.forms.registration import DetailsForm, RegistrationForm, form_class
from portal.models import Admission
from portal.registrations import limits, participants
from portal.registrations.limits import RegistrationLimits, TooManyRequests
from portal.registrations.participants import Submission
from portal.web.csrf import read_form
from portal.web.pagecache import shared_page, shows_seats
from portal.web.params import page_number, text_param
from portal.web.plumbing import public_route, render, site, uow
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
    filters = {
        "programme": text_param(request, "programme"),
        "category": text_param(request, "category"),
        "q": text_param(request, "q"),
    }
    data = await uow(request, listing.get_listing, past=past, page=page_number(request), per_page=PER_PAGE, **filters)
    shows_seats(request, (card.event.id for card in data.page.items))
    return render(
        request,
        "public/events.html",
        {"page": data.page, "past": past, "filters": filters, "categories": data.categories, "programmes": data.programmes},
    )


@shared_page
async def show_event(request: Request) -> Response:
    data = await uow(request, listing.get_event_page, _path(request, "slug"))
    shows_seats(request, [data.event.id])
    here = site(request)
    context = {
        "data": data,
        # Structured data for search engines, escaped so that nothing in it ends its <script>.
        "jsonld": Markup(schemaorg.page_script(data, here)),
        "google_link": google_calendar_link(data.event, here.event_url(data.event.slug)),
    }
    return render(request, "public/event.html", context)


def _submission(form: RegistrationForm) -> Submission:
    return Submission(
        name=form.name.data or "",
        email=form.email.data or "",
        organisation=form.organisation.data or "",
        answers=form.answers(),
    )


async def register(request: Request) -> Response:
    slug = _path(request, "slug")
    # The event is read once: it decides the form's questions and is shown again if the form
    # comes back.
    data = await uow(request, listing.get_event_page, slug)
    form_type = form_class(RegistrationForm, data.programme.code if data.programme else None, data.admission)
    if request.method != "POST":
        status = 200 if data.state.can_register else 409
        return render(request, "public/register.html", {"data": data, "form": form_type(), "problem": None}, status_code=status)
    form = form_type(await read_form(request))
    if form.website.data:
        # The honeypot was filled in: a bot. Answer as if it worked; keep nothing.
        return RedirectResponse(request.url_for("registered", slug=slug), status_code=303)
    problem, status, headers = None, 422, None
    if form.validate():
        settings = request.app.state.settings
        allowed = RegistrationLimits(settings.registrations_per_ip_per_minute, settings.registrations_per_email_per_minute)
        try:
            await uow(
                request, limits.register_within_limits, site(request), slug, _submission(form),
                client_address(request), allowed, write=True,
            )
        except (RegistrationClosed, EventFull) as exc:
            problem, status = exc.message, 409
            data = data.refused(full=isinstance(exc, EventFull))
        except TooManyRequests as exc:
            # The form comes back as typed, so sending it again later is one click.
            problem, status, headers = exc.message, 429, {"Retry-After": str(exc.retry_after)}
        else:
            return RedirectResponse(request.url_for("registered", slug=slug), status_code=303)
    return render(
        request, "public/register.html", {"data": data, "form": form, "problem": problem}, status_code=status, headers=headers
    )


async def registered(request: Request) -> Response:
    data = await uow(request, listing.get_event_page, _path(request, "slug"))
    return render(request, "public/registered.html", {"data": data})


@shared_page
async def list_programmes(request: Request) -> Response:
    programmes = await uow(request, listing.list_programmes)
    return render(request, "public/programmes.html", {"programmes": programmes})


@shared_page
async def show_programme(request: Request) -> Response:
    data = await uow(request, listing.get_programme_page, _path(request, "code"))
    shows_seats(request, (card.event.id for card in [*data.upcoming, *data.past]))
    return render(request, "public/programme.html", {"data": data})


PRIVATE = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"}


async def manage_registration(request: Request) -> Response:
    token = _path(request, "token")
    view = await uow(request, participants.view_registration, token)
    programme_code = view.programme.code if view.programme else None
    admission = view.programme.admission if view.programme else None
    cls = form_class(DetailsForm, programme_code, admission or Admission.OPEN)
    saved = request.query_params.get("saved") == "1"
    problem = None
    if request.method == "POST":
        form = cls(await read_form(request))
        if form.validate():
            submission = Submission(
                name=form.name.data or "", email=view.registration.email,
                organisation=form.organisation.data or "", answers=form.answers(),
            )
            try:
                await uow(request, participants.update_details, token, submission, write=True)
            except InvalidTransition as exc:
                problem = exc.message
            else:
                return RedirectResponse(request.url_for("manage_registration", token=token).include_query_params(saved=1), status_code=303)
        status = 409 if problem else 422
        return render(request, "public/manage.html", {"view": view, "form": form, "saved": False, "problem": problem}, status_code=status, headers=PRIVATE)
    form = cls(data={"name": view.registration.name, "organisation": view.registration.organisation, **view.registration.answers})
    return render(request, "public/manage.html", {"view": view, "form": form, "saved": saved, "problem": None}, headers=PRIVATE)


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
    public_route("cancel_registration", cancel_registration, methods=["GET", "POST"]),
]
