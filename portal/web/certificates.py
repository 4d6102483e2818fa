"""Certificates of attendance in public: the page that verifies a code (anyone's, throttled
per client), finding a code typed by hand, and the participant's own PDF behind their
private link."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal.registrations import certificates
from portal.registrations.limits import TooManyRequests
from portal.web.params import text_param
from portal.web.pdfs import send_certificate
from portal.web.plumbing import PRIVATE, public_route, render, uow
from portal.web.security import client_address

# A verification is public but about one person: a browser may keep it a minute, no shared
# cache or search engine may.
VERIFIED = {"Cache-Control": "private, max-age=60", "X-Robots-Tag": "noindex, nofollow"}


async def find_certificate(request: Request) -> Response:
    """A form to type a certificate's code; a code sent goes to its page, tidied."""
    typed = text_param(request, "code") or ""
    code = certificates.normalise_code(typed)
    if code:
        return RedirectResponse(request.url_for("verify_certificate", code=code), status_code=303)
    problem = f"“{typed[:40]}” is not a certificate code: a code has 12 letters and digits, like 7K3Q-X2M4-9DAB." if typed else None
    context = {"result": None, "problem": problem, "typed": typed[:40]}
    return render(request, "public/certificate.html", context, status_code=422 if typed else 200, headers=VERIFIED)


async def verify_certificate(request: Request) -> Response:
    typed: str = request.path_params["code"]
    try:
        result = await uow(request, certificates.verify, typed, client_address(request), write=True)
    except TooManyRequests as exc:
        context = {"result": None, "problem": exc.message, "typed": ""}
        return render(request, "public/certificate.html", context, status_code=429, headers={**PRIVATE, "Retry-After": str(exc.retry_after)})
    status = 404 if result.state == "unknown" else 200
    return render(request, "public/certificate.html", {"result": result, "problem": None, "typed": ""}, status_code=status, headers=VERIFIED)


async def download_certificate(request: Request) -> Response:
    """The participant's live certificate, for the holder of the manage link only."""
    file = await uow(request, certificates.participant_file, request.path_params["token"])
    return await send_certificate(request, file, PRIVATE)


routes = [
    public_route("find_certificate", find_certificate),
    public_route("verify_certificate", verify_certificate),
    public_route("download_certificate", download_certificate),
]
