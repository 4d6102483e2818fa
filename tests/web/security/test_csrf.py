"""CSRF, route by route: every state change is a POST, and every POST route refuses a token
that belongs to another browser, signed in or not. (tests/web/test_register_web.py and
tests/admin/test_access.py walk the same routes with no token and with a forged one.)"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from portal.models import AuditEntry, Event, Organiser, Registration, RegistrationStatus
from tests.web.backoffice.conftest import PASSWORD, sign_in, token
from tests.timetables import add_session, add_speakers
from tests.web.security.test_headers import _routes


def test_no_route_takes_a_method_that_escapes_the_csrf_walk(app):
    for prefix, route in _routes(app.routes):
        assert set(route.methods or ()) <= {"GET", "HEAD", "POST"}, prefix + route.path


def _filled(path: str, values: dict[str, Any]) -> str:
    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        return str(values[f"{name}:organiser" if name == "id" and "organisers" in path else name])

    return re.sub(r"\{(\w+)(?::\w+)?\}", value, path)


def post_paths(app: Any, values: dict[str, Any]) -> list[str]:
    """Every route that takes POST, its parameters filled from `values`."""
    return [prefix + _filled(route.path, values) for prefix, route in _routes(app.routes) if "POST" in (route.methods or ())]


def test_a_token_from_another_browser_is_refused_on_every_post_route(app, admin_client, browser, admin, make_organiser,
                                                                      make_programme, make_event, make_registration, sessions, run):
    programme = make_programme()
    event = make_event(programme_id=programme.id)
    registration = make_registration(event, name="Ann")
    other = make_organiser("other@example.org")
    # A session and a speaker keyed "cv" (the key every {key} gets), so their handlers are reached.
    add_session(run, event, "cv", event.starts_at, event.ends_at, choose=True, places=5, check_in=True)
    add_speakers(run, {"key": "cv", "name": "Speaker"})
    values = {"slug": event.slug, "token": registration.token, "code": programme.code, "id": registration.id, "id:organiser": other.id,
              "form": "default", "index": 0, "key": "cv"}
    # The attacker's own browser, signed in as well: its token is real, but not for this browser.
    attacker = browser()
    assert sign_in(attacker, other.email).status_code == 303
    foreign = token(attacker, "/admin/")
    body = {"csrf_token": foreign, "name": "Hijacked", "email": "x@example.org", "consent": "y", "action": "cancel",
            "ids": str(registration.id), "change": "deactivate", "password": PASSWORD, "title": "Hijacked"}
    paths = post_paths(app, values)
    with sessions() as session:
        audited = session.scalar(select(func.count()).select_from(AuditEntry))
    assert len(paths) >= 15
    for path in paths:
        response = admin_client.post(path, data=body)
        assert response.status_code == 403, (path, response.status_code)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == audited
        assert session.get_one(Registration, registration.id).status == RegistrationStatus.CONFIRMED
        assert session.get_one(Registration, registration.id).name == "Ann"
        assert session.scalar(select(func.count()).select_from(Event)) == 1
        assert session.scalar(select(Organiser.active).where(Organiser.id == other.id)) is True
    # The admin is still signed in: a refused request changes nothing, the session included.
    assert admin_client.get("/admin/").status_code == 200
