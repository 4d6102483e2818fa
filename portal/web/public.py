"""The participants' pages: browse, register, manage one's registration."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.errors import EventFull, InvalidTransition, NotFound, RegistrationClosed
from portal.forms.public import DetailsForm, RegistrationForm, form_class
from portal.models import Admission
from portal.services import events, limits, registrations
from portal.services.limits import RegistrationLimits, TooManyRequests
from portal.services.registrations import Submission
from portal.web.csrf import read_form
from portal.web.pagecache import shared_page
from portal.web.params import page_number, text_param
from portal.web.plumbing import render, site, uow
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
    data = await uow(request, events.get_home)
    return render(request, "public/home.html", {"home": data})


@shared_page
async def list_events(request: Request) -> Response:
    past = request.query_params.get("when") == "past"
    filters = {
        "programme": text_param(request, "programme"),
        "category": text_param(request, "category"),
        "q": text_param(request, "q"),
    }
    page = await uow(request, events.list_events, past=past, page=page_number(request), per_page=PER_PAGE, **filters)
    categories = await uow(request, events.categories)
    programmes = await uow(request, events.list_programmes)
    return render(
        request,
        "public/events.html",
        {"page": page, "past": past, "filters": filters, "categories": categories, "programmes": programmes},
    )


@shared_page
async def show_event(request: Request) -> Response:
    data = await uow(request, events.get_event_page, _path(request, "slug"))
    return render(request, "public/event.html", {"data": data})


def _submission(form: RegistrationForm) -> Submission:
    return Submission(
        name=form.name.data or "",
        email=form.email.data or "",
        organisation=form.organisation.data or "",
        answers=form.answers(),
    )


async def register(request: Request) -> Response:
    slug = _path(request, "slug")
    if request.method == "POST":
        # The whole event page is read again only if the form has to be shown again.
        programme_code, admission = await uow(request, events.registration_form_kind, slug)
        form = form_class(RegistrationForm, programme_code, admission)(await read_form(request))
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
            except TooManyRequests as exc:
                # The form comes back as typed, so sending it again later is one click.
                problem, status, headers = exc.message, 429, {"Retry-After": str(exc.retry_after)}
            else:
                return RedirectResponse(request.url_for("registered", slug=slug), status_code=303)
        data = await uow(request, events.get_event_page, slug)
        return render(
            request, "public/register.html", {"data": data, "form": form, "problem": problem}, status_code=status, headers=headers
        )
    data = await uow(request, events.get_event_page, slug)
    form = form_class(RegistrationForm, data.programme.code if data.programme else None, data.admission)()
    status = 200 if data.state.can_register else 409
    return render(request, "public/register.html", {"data": data, "form": form, "problem": None}, status_code=status)


async def registered(request: Request) -> Response:
    data = await uow(request, events.get_event_page, _path(request, "slug"))
    return render(request, "public/registered.html", {"data": data})


@shared_page
async def list_programmes(request: Request) -> Response:
    programmes = await uow(request, events.list_programmes)
    return render(request, "public/programmes.html", {"programmes": programmes})


@shared_page
async def show_programme(request: Request) -> Response:
    data = await uow(request, events.get_programme_page, _path(request, "code"))
    return render(request, "public/programme.html", {"data": data})


PRIVATE = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"}


async def manage_registration(request: Request) -> Response:
    token = _path(request, "token")
    view = await uow(request, registrations.view_registration, token)
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
                await uow(request, registrations.update_details, token, submission, write=True)
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
            await uow(request, registrations.cancel, site(request), token, write=True)
        except InvalidTransition as exc:
            view = await uow(request, registrations.view_registration, token)
            return render(request, "public/cancel.html", {"view": view, "problem": exc.message}, status_code=409, headers=PRIVATE)
        return RedirectResponse(request.url_for("manage_registration", token=token), status_code=303)
    view = await uow(request, registrations.view_registration, token)
    return render(request, "public/cancel.html", {"view": view, "problem": None}, headers=PRIVATE)


routes = [
    Route("/", home, name="home"),
    Route("/events", list_events, name="list_events"),
    Route("/events/{slug}", show_event, name="show_event"),
    Route("/events/{slug}/register", register, name="register", methods=["GET", "POST"]),
    Route("/events/{slug}/registered", registered, name="registered"),
    Route("/programmes", list_programmes, name="list_programmes"),
    Route("/programmes/{code}", show_programme, name="show_programme"),
    Route("/registrations/{token}", manage_registration, name="manage_registration", methods=["GET", "POST"]),
    Route("/registrations/{token}/cancel", cancel_registration, name="cancel_registration", methods=["GET", "POST"]),
]
