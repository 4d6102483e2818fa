"""Certificates of attendance in the back office: an event's certificates and who has earned
one, issuing them (all at once after a confirmation, or one person), one certificate with its
reissue (a corrected name) and revoke forms, and its PDF."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.errors import InvalidTransition
from portal.forms.certificates import IssueForm, ReissueForm, RevokeForm
from portal.forms.fields import first_error
from portal.registrations import certificates
from portal.registrations.certificates import CountChanged, display_code
from portal.rosters import certificates as listing
from portal.rosters.data_access import record_certificate
from portal.web.backoffice.auth import require_organiser
from portal.web.backoffice.base import actor, flash, page
from portal.web.csrf import read_form
from portal.web.pdfs import send_certificate
from portal.web.plumbing import uow


def _issuer(request: Request) -> str:
    issuer: str = request.app.state.settings.issuer
    return issuer


@require_organiser
async def list_certificates(request: Request) -> Response:
    data = await uow(request, listing.certificates_page, request.path_params["slug"])
    return page(request, "admin/certificates.html", {"data": data})


@require_organiser
async def issue_certificates(request: Request) -> Response:
    slug = request.path_params["slug"]
    form = IssueForm(await read_form(request))
    if not form.validate():
        raise HTTPException(400, f"This button sent something the portal does not understand ({first_error(form)}). Open the certificates page again.")
    back = RedirectResponse(request.url_for("admin:list_certificates", slug=slug), status_code=303)
    chosen = list(form.id.data) or None
    if chosen is None and form.confirmed() is None:
        data = await uow(request, listing.certificates_page, slug)
        return page(request, "admin/certificates_confirm.html", {"data": data, "changed": None})
    expected = form.confirmed() if chosen is None else None
    try:
        issued = await uow(request, certificates.issue, actor(request), slug, chosen, issuer=_issuer(request), expected=expected, write=True)
    except CountChanged as exc:
        data = await uow(request, listing.certificates_page, slug)
        return page(request, "admin/certificates_confirm.html", {"data": data, "changed": exc.message}, status_code=409)
    except InvalidTransition as exc:
        return flash(request, back, exc.message)
    n = len(issued)
    done = f"Issued {n} certificate{'' if n == 1 else 's'}." if n else "No certificate was issued: nobody chosen has earned one without holding one."
    return flash(request, back, done)


async def _certificate_page(request: Request, reissue: ReissueForm | None = None, revoke: RevokeForm | None = None, status_code: int = 200) -> Response:
    detail = await uow(request, listing.certificate_detail, request.path_params["id"])
    context = {
        "detail": detail,
        "reissue": reissue or ReissueForm(data={"name": detail.certificate.shows.get("name", "")}),
        "revoke": revoke or RevokeForm(),
    }
    return page(request, "admin/certificate.html", context, status_code=status_code)


@require_organiser
async def show_certificate(request: Request) -> Response:
    return await _certificate_page(request)


@require_organiser
async def reissue_certificate(request: Request) -> Response:
    certificate_id = request.path_params["id"]
    form = ReissueForm(await read_form(request))
    if not form.validate():
        return await _certificate_page(request, reissue=form, status_code=422)
    try:
        new = await uow(request, certificates.reissue, actor(request), certificate_id, form.name.data, issuer=_issuer(request), write=True)
    except InvalidTransition as exc:
        return flash(request, RedirectResponse(request.url_for("admin:show_certificate", id=certificate_id), status_code=303), exc.message)
    done = f"Reissued with the new code {display_code(new.code)}. The old certificate is revoked, and its page says so."
    return flash(request, RedirectResponse(request.url_for("admin:show_certificate", id=new.id), status_code=303), done)


@require_organiser
async def revoke_certificate(request: Request) -> Response:
    certificate_id = request.path_params["id"]
    form = RevokeForm(await read_form(request))
    if not form.validate():
        return await _certificate_page(request, revoke=form, status_code=422)
    back = RedirectResponse(request.url_for("admin:show_certificate", id=certificate_id), status_code=303)
    try:
        await uow(request, certificates.revoke, actor(request), certificate_id, form.reason.data, write=True)
    except InvalidTransition as exc:
        return flash(request, back, exc.message)
    return flash(request, back, "Revoked. Its public page now says that it is not valid.")


@require_organiser
async def download_certificate_pdf(request: Request) -> Response:
    file = await uow(request, certificates.organiser_file, request.path_params["id"])
    response = await send_certificate(request, file)
    await uow(request, record_certificate, actor(request), request.path_params["id"], len(response.body), write=True)
    return response


routes = [
    Route("/events/{slug}/certificates", list_certificates, name="list_certificates"),
    Route("/events/{slug}/certificates", issue_certificates, name="issue_certificates", methods=["POST"]),
    Route("/certificates/{id:int}", show_certificate, name="show_certificate"),
    Route("/certificates/{id:int}.pdf", download_certificate_pdf, name="download_certificate_pdf"),
    Route("/certificates/{id:int}/reissue", reissue_certificate, name="reissue_certificate", methods=["POST"]),
    Route("/certificates/{id:int}/revoke", revoke_certificate, name="revoke_certificate", methods=["POST"]),
]
