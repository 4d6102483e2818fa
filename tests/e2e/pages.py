"""Every kind of page, saved as the server sends it, for the Nu HTML checker: participants'
pages, the forms sent back with errors, the error page and the back office, signed in."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import httpx2 as httpx
from sqlalchemy import select

from portal.models import Registration, Subscriber

if TYPE_CHECKING:
    from tests.e2e.conftest import LiveSite

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def save_pages(live: LiveSite, organiser: tuple[str, str], door: tuple[str, str], directory: Path) -> list[Path]:
    """Fetch the pages into directory, one file each; fails if one answers unexpectedly."""
    pages: dict[str, str] = {}
    with live.sessions() as session:
        people = {r.email: r for r in session.scalars(select(Registration).where(
            Registration.email.in_(["eraser-pages@example.org", "nadia.rahman@example.org"])))}
        eraser, sensitive = people["eraser-pages@example.org"].token, people["nadia.rahman@example.org"]
        subscriber = session.scalars(select(Subscriber.token).where(Subscriber.email == "subscriber@example.org")).one()

    def save(name: str, response: httpx.Response, status: int = 200) -> str:
        assert response.status_code == status, f"{name}: {response.request.url} answered {response.status_code}"
        assert response.headers["content-type"].startswith("text/html"), name
        pages[name] = response.text
        return response.text

    def csrf(html: str) -> str:
        match = CSRF.search(html)
        assert match, "a form without its CSRF field"
        return match.group(1)

    slug, forum, token = live.open_event, live.forum_event, live.manage_token
    with httpx.Client(base_url=live.url, timeout=10) as web:
        for name, path in [
            ("home", "/"), ("listing", "/events"), ("listing-empty", "/events?q=nothing+matches+this"),
            ("listing-past", "/events?when=past"), ("event", f"/events/{slug}"), ("programmes", "/programmes"),
            ("programme", f"/programmes/{live.forum_code}"), ("apply", f"/events/{forum}/register"),
            ("confirmation", f"/events/{slug}/registered"), ("manage", f"/registrations/{token}"),
            ("cancel", f"/registrations/{token}/cancel"), ("ticket", f"/registrations/{token}/ticket"),
            ("lost-link-sent", "/registrations/lost/sent"),
        ]:
            save(name, web.get(path))
        save("not-found", web.get("/events/no-such-event"), 404)
        form = save("register", web.get(f"/events/{slug}/register"))
        save("register-errors", web.post(f"/events/{slug}/register", data={
            "csrf_token": csrf(form), "name": "", "email": "not an address"}), 422)
        save("manage-errors", web.post(f"/registrations/{token}", data={"csrf_token": csrf(form), "name": ""}), 422)
        lost = save("lost-link", web.get("/registrations/lost"))
        save("lost-link-errors", web.post("/registrations/lost", data={"csrf_token": csrf(lost), "email": "not an address"}), 422)
        # A participant's own data, and its erasure: asked, refused without the box, done.
        save("own-data", web.get(f"/registrations/{sensitive.token}/data"))
        erase = save("erase", web.get(f"/registrations/{eraser}/erase"))
        save("erase-errors", web.post(f"/registrations/{eraser}/erase", data={"csrf_token": csrf(erase)}), 422)
        save("erased", web.post(f"/registrations/{eraser}/erase", data={"csrf_token": csrf(erase), "understood": "yes"}))
        save("subscription-erase", web.get(f"/subscribe/{subscriber}/erase"))
        save("subscription-erase-errors", web.post(f"/subscribe/{subscriber}/erase", data={"csrf_token": csrf(erase)}), 422)

        sign_in = save("sign-in", web.get("/admin/sign-in"))
        save("sign-in-refused", web.post("/admin/sign-in", data={
            "csrf_token": csrf(sign_in), "email": "nobody@example.org", "password": "not the password"}), 401)
        email, password = organiser
        signed_in = web.post("/admin/sign-in", data={"csrf_token": csrf(sign_in), "email": email, "password": password})
        assert signed_in.status_code == 303, f"signing in answered {signed_in.status_code}"
        roster = save("roster", web.get(f"/admin/events/{forum}"))
        registration = re.search(r'href="[^"]*(/admin/registrations/[0-9]+)"', roster)
        assert registration, "the roster links to no registration"
        for name, path in [
            ("dashboard", "/admin/"), ("admin-events", "/admin/events"), ("new-event", "/admin/events/new"),
            ("edit-event", f"/admin/events/{forum}/edit"), ("cancel-event", f"/admin/events/{forum}/cancel"),
            ("duplicate-event", f"/admin/events/{forum}/duplicate"), ("audit", f"/admin/events/{forum}/audit"),
            ("check-in", f"/admin/events/{forum}/check-in"), ("registration", registration.group(1)),
            ("admin-programmes", "/admin/programmes"), ("new-programme", "/admin/programmes/new"),
            ("outbox", "/admin/outbox"), ("organisers", "/admin/organisers"), ("password", "/admin/account/password"),
            ("roster-pending", f"/admin/events/{forum}?status=pending"),
            ("roster-columns", f"/admin/events/{forum}/columns?status=pending"),
        ]:
            save(name, web.get(path))
        save("new-event-errors", web.post("/admin/events/new", data={"csrf_token": csrf(pages["new-event"])}), 422)
        save("admin-not-found", web.get("/admin/events/no-such-event"), 404)
        registration_id = registration.group(1).rsplit("/", 1)[1]
        save("confirm-cancel", web.post(f"/admin/events/{forum}/registrations", data={
            "csrf_token": csrf(roster), "action": "cancel", "id": registration_id}))
        # The door's answer to a typed code (without JavaScript), and to an empty one.
        save("door-result", web.post(f"/admin/events/{forum}/door/scan", data={"csrf_token": csrf(roster), "code": "ZZZZZ-ZZZZZ"}))
        save("door-result-errors", web.post(f"/admin/events/{forum}/door/scan", data={"csrf_token": csrf(roster), "code": ""}), 422)
        # Correcting a registration's details, and a walk-in the door sends back.
        edit = save("registration-edit", web.get(f"{registration.group(1)}/edit"))
        save("registration-edit-errors", web.post(f"{registration.group(1)}/edit", data={"csrf_token": csrf(edit), "name": ""}), 422)
        save("walk-in-errors", web.post(f"/admin/events/{forum}/walk-in", data={"csrf_token": csrf(roster), "walk_in-name": ""}), 422)
        # A sensitive answer, masked and then revealed; the data-access log that records it;
        # anonymising an ended event's registrations, asked.
        save("registration-sensitive", web.get(f"/admin/registrations/{sensitive.id}"))
        revealed = save("registration-revealed", web.post(f"/admin/registrations/{sensitive.id}/reveal", data={
            "csrf_token": csrf(roster), "question": "diet"}))
        assert 'class="revealed"' in revealed, "the reveal showed no answer"
        save("data-access", web.get("/admin/data-access"))
        anonymise = save("anonymise-event", web.get("/admin/events/ethics-roundtable/anonymise"))
        assert "Anonymise 1 registration" in anonymise, "the anonymise page asks nothing of the ended event"

    # The door volunteer's own front page and roster.
    with httpx.Client(base_url=live.url, timeout=10) as web:
        sign_in = web.get("/admin/sign-in")
        email, password = door
        signed_in = web.post("/admin/sign-in", data={"csrf_token": csrf(sign_in.text), "email": email, "password": password})
        assert signed_in.status_code == 303, f"the door volunteer signing in answered {signed_in.status_code}"
        save("door-dashboard", web.get("/admin/"))
        save("door-roster", web.get(f"/admin/events/{forum}"))

    files = []
    for name, html in pages.items():
        path = directory / f"{name}.html"
        path.write_text(html, encoding="utf-8")
        files.append(path)
    return files
