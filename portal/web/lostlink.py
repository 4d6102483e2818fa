"""'Lost your link?': the form that emails an address the links of its registrations, and
the page after it, which says the same whether or not the address is known."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal.forms.lostlink import LostLinkForm
from portal.registrations import lostlinks
from portal.registrations.limits import RegistrationLimits, TooManyRequests
from portal.site import path_for
from portal.web import sentto
from portal.web.csrf import read_form
from portal.web.plumbing import PRIVATE, public_route, render, site, uow
from portal.web.security import client_address


async def lost_link(request: Request) -> Response:
    if request.method != "POST":
        return render(request, "public/lost_link.html", {"form": LostLinkForm(), "problem": None})
    form = LostLinkForm(await read_form(request))
    sent = RedirectResponse(request.url_for("lost_link_sent"), status_code=303)
    if form["website"].data:
        # The honeypot was filled in: a bot. Answer as if it worked; send nothing.
        return sent
    problem, status, headers = None, 422, None
    if form.validate():
        email = form["email"].data or ""
        settings = request.app.state.settings
        allowed = RegistrationLimits(settings.registrations_per_ip_per_minute, settings.registrations_per_email_per_minute)
        try:
            await uow(request, lostlinks.send_lost_links, site(request), email, client=client_address(request), limits=allowed, write=True)
        except TooManyRequests as exc:
            problem, status, headers = exc.message, 429, {"Retry-After": str(exc.retry_after)}
        else:
            # The same page whether the address has registrations, had none, or is unknown.
            return sentto.remember(request, sent, email, path_for("lost_link_sent"))
    return render(request, "public/lost_link.html", {"form": form, "problem": problem}, status_code=status, headers=headers)


async def lost_link_sent(request: Request) -> Response:
    return render(request, "public/lost_link_sent.html", {"email": sentto.recall(request)}, headers=PRIVATE)


# Before the manage routes (/registrations/{token}), which would take "lost" for a token.
routes = [
    public_route("lost_link", lost_link, methods=["GET", "POST"]),
    public_route("lost_link_sent", lost_link_sent),
]
