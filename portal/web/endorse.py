"""The nominating officer's page: the private link from their email, to endorse or decline a
nomination once. A plain form with two buttons: no JavaScript, no account."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal.errors import InvalidInput, InvalidTransition
from portal.registrations import endorsement
from portal.web.csrf import read_form
from portal.web.plumbing import PRIVATE, public_route, render, site, uow

DECISIONS = {"endorse": True, "decline": False}


async def endorse_nomination(request: Request) -> Response:
    token: str = request.path_params["token"]
    if request.method == "POST":
        form = await read_form(request)
        decision = form.get("decision")
        if not isinstance(decision, str) or decision not in DECISIONS:
            raise InvalidInput("Choose Endorse or Decline.")
        try:
            recorded = await uow(request, endorsement.answer, site(request), token, DECISIONS[decision], write=True)
        except InvalidTransition as exc:
            view = await uow(request, endorsement.view_endorsement, token)
            return render(request, "public/endorse.html", {"view": view, "done": False, "problem": exc.message}, status_code=409, headers=PRIVATE)
        url = request.url_for("endorse_nomination", token=token)
        # A second answer records nothing: the page then says what was answered, and when.
        return RedirectResponse(url.include_query_params(done=1) if recorded else url, status_code=303)
    view = await uow(request, endorsement.view_endorsement, token)
    done = request.query_params.get("done") == "1"
    return render(request, "public/endorse.html", {"view": view, "done": done, "problem": None}, headers=PRIVATE)


routes = [
    public_route("endorse_nomination", endorse_nomination, methods=["GET", "POST"]),
]
