"""Access control, checked on every back-office route the app has: a route added later
without a guard fails here."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from portal.catalogue import photos
from portal.models import AuditEntry, Event, EventSession, EventStatus, Organiser, Registration, RegistrationStatus, Speaker, Subscriber, Upload
from portal.models.door import Certificate
from portal.registrations import uploads
from tests.web.backoffice.conftest import PASSWORD, sign_in, token


def admin_routes(app: Any) -> list[Route]:
    mount = next(r for r in app.routes if isinstance(r, Mount) and r.path == "/admin")
    routes = [r for r in mount.routes if isinstance(r, Route)]
    assert len(routes) == len(mount.routes), "every back-office route is a plain Route"
    return routes


@pytest.fixture
def world(make_programme, make_event, make_registration, make_organiser, settings, run):  # type: ignore[no-untyped-def]
    programme = make_programme(code="tatc")
    event = make_event(programme_id=programme.id)
    registration = make_registration(event, answers={"cv": "cv.pdf"})
    other = make_organiser("someone@example.org")
    stored = uploads.save(settings.upload_directory, b"%PDF-1.4\n")
    run(lambda session: session.add(Upload(
        stored_name=stored, registration_id=registration.id, event_id=event.id, question_key="cv",
        filename="cv.pdf", content_type="application/pdf", size=9,
    )))
    subscriber = Subscriber(email="reader@example.org", token="reader-token", programmes=[], categories=[])
    run(lambda session: (session.add(subscriber), session.flush()))
    shows = {"name": "Ada", "event": event.title, "programme": "", "dates": "Mon 8 Mar 2027", "days_attended": [], "days": 1, "issuer": "RSIS"}
    certificate = Certificate(code="ACCESS7EST01", registration_id=registration.id, event_id=event.id, shows=shows)
    run(lambda session: (session.add(certificate), session.flush()))
    # A session and a speaker both keyed "cv", the key every {key} in a path gets.
    run(lambda session: session.add(EventSession(
        event_id=event.id, key="cv", title="Session", starts_at=event.starts_at, ends_at=event.ends_at, check_in=True,
    )))
    picture = io.BytesIO()
    Image.new("RGB", (8, 8), (255, 255, 255)).save(picture, "PNG")
    photo = photos.store(settings.upload_directory, photos.prepare(picture.getvalue()))
    run(lambda session: session.add(Speaker(key="cv", name="Speaker", photo=photo)))
    return {
        "slug": event.slug, "code": programme.code, "registration": registration.id, "organiser": other.id, "fmt": "csv",
        "form": f"programme-{programme.code}", "index": 0, "key": "cv", "subscriber": subscriber.id,
        "certificate": certificate.id,
    }


def path_of(app: Any, route: Route, world: dict[str, Any]) -> str:
    params = {}
    for name in route.param_convertors:
        if name == "id":
            kind = next((k for k in ("organiser", "subscriber", "certificate") if route.path.startswith(f"/{k}s")), "registration")
            params[name] = world[kind]
        else:
            params[name] = world[name]
    return str(app.url_path_for(f"admin:{route.name}", **params))


def cases(app: Any, world: dict[str, Any], method: str) -> list[tuple[Route, str]]:
    return [(r, path_of(app, r, world)) for r in admin_routes(app) if method in (r.methods or set())]


def test_every_handler_declares_who_may_use_it(app):
    for route in admin_routes(app):
        assert getattr(route.endpoint, "access", None) in ("public", "organiser", "admin"), route.path
        assert route.name == route.endpoint.__name__, "route names are handler names"
    public = {r.name for r in admin_routes(app) if r.endpoint.access == "public"}
    assert public == {"sign_in", "sign_out"}
    admin_only = {r.name for r in admin_routes(app) if r.endpoint.access == "admin"}
    assert admin_only == {"list_organisers", "add_organiser", "update_organiser", "show_data_access", "export_data_access"}


def test_signed_out_get_is_sent_to_sign_in_or_refused(app, client, world):
    walked = cases(app, world, "GET")
    assert len(walked) >= 15
    for route, path in walked:
        response = client.get(path)
        if route.endpoint.access == "public":
            assert response.status_code == 200, path
        elif route.name in ("export_roster", "download_badges", "export_session"):  # downloads: a file cannot follow a redirect
            assert response.status_code == 401, path
            assert "Sign in" in response.text
        else:
            assert response.status_code == 303, path
            location = response.headers["location"]
            assert location.startswith("http://testserver/admin/sign-in?next="), (path, location)
            follow = client.get(location)
            assert follow.status_code == 200 and 'name="next"' in follow.text


def audit_count(sessions):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry))


def test_signed_out_post_changes_nothing(app, client, world, sessions):
    before = audit_count(sessions)
    csrf = token(client)
    for route, path in cases(app, world, "POST"):
        if route.endpoint.access == "public":
            continue
        response = client.post(path, data={"csrf_token": csrf, "action": "cancel", "id": world["registration"], "change": "deactivate"})
        # The sign-in page itself, holding the form's fields to save after signing in (kept.py).
        assert response.status_code == 401, path
        assert 'action="http://testserver/admin/sign-in"' in response.text, path
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == before
        assert session.get_one(Registration, world["registration"]).status == RegistrationStatus.CONFIRMED
        assert session.scalar(select(Event.status).where(Event.slug == world["slug"])) == EventStatus.PUBLISHED
        assert session.scalar(select(Organiser.active).where(Organiser.id == world["organiser"])) is True


def test_post_without_csrf_is_refused_everywhere(app, admin_client, world, sessions):
    before = audit_count(sessions)
    walked = cases(app, world, "POST")
    assert len(walked) >= 12
    for route, path in walked:
        response = admin_client.post(path, data={"action": "cancel", "id": world["registration"], "change": "deactivate", "email": "ada@example.org", "password": PASSWORD})
        assert response.status_code == 403, path
        assert "security cookie" in response.text
        wrong = admin_client.post(path, data={"csrf_token": "forged", "action": "cancel", "id": world["registration"]})
        assert wrong.status_code == 403, path
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == before
        assert session.get_one(Registration, world["registration"]).status == RegistrationStatus.CONFIRMED


def test_signed_in_organiser_reaches_every_page_but_the_admin_ones(app, organiser_client, world):
    for route, path in cases(app, world, "GET"):
        response = organiser_client.get(path)
        if route.endpoint.access == "admin":
            assert response.status_code == 403, path
            assert "Only admins" in response.text
        elif route.name == "sign_in":
            assert response.status_code == 200
        else:
            assert response.status_code == 200, (path, response.text[:500])
            assert response.headers["cache-control"] == "no-store", path


def test_organiser_cannot_manage_organisers(app, organiser_client, world, sessions):
    csrf = token(organiser_client, "/admin/")
    for route, path in cases(app, world, "POST"):
        if route.endpoint.access != "admin":
            continue
        response = organiser_client.post(
            path, data={"csrf_token": csrf, "email": "new@example.org", "password": "long enough password", "change": "deactivate"}
        )
        assert response.status_code == 403, path
    with sessions() as session:
        assert session.scalar(select(Organiser.active).where(Organiser.id == world["organiser"])) is True
        assert session.scalar(select(Organiser.id).where(Organiser.email == "new@example.org")) is None


def test_admin_reaches_the_admin_pages(admin_client):
    assert admin_client.get("/admin/organisers").status_code == 200


def test_a_deactivated_organiser_is_signed_out_at_once(client, other_client, organiser, admin):
    assert sign_in(client, organiser.email).status_code == 303
    assert client.get("/admin/").status_code == 200
    assert sign_in(other_client, admin.email).status_code == 303
    response = other_client.post(f"/admin/organisers/{organiser.id}", data={"csrf_token": token(other_client, "/admin/organisers"), "change": "deactivate"})
    assert response.status_code == 303
    assert client.get("/admin/").status_code == 303
    assert sign_in(client, organiser.email).status_code == 401


def test_errors_in_the_back_office_keep_its_layout(app, organiser_client, other_client, make_event, monkeypatch):
    event = make_event()
    # Signed in: the menu stays, and the way on is the dashboard, not the public home page.
    for path, status in (("/admin/events/no-such-event", 404), (f"/admin/events/{event.slug}?sort=password", 400), ("/admin/organisers", 403)):
        response = organiser_client.get(path)
        assert response.status_code == status, path
        assert 'class="admin-menu"' in response.text and "Go to the dashboard" in response.text, path
        assert "Organisers: sign in" not in response.text and "the events you register for" not in response.text, path
    # Signed out, an unknown back-office address still leads into the back office (which asks
    # to sign in), without the menu.
    nowhere = other_client.get("/admin/no-such-page")
    assert nowhere.status_code == 404 and 'class="admin-menu"' not in nowhere.text and "Go to the dashboard" in nowhere.text
    # The public site keeps its own error page.
    public = other_client.get("/events/no-such-event")
    assert public.status_code == 404 and "Go to the home page" in public.text and "Organisers: sign in" in public.text

    # A bug behind a signed-in page still answers with the back office's 500 page.
    from portal.rosters import roster

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(roster, "roster", broken)
    with TestClient(app, base_url=str(organiser_client.base_url), raise_server_exceptions=False) as fresh:
        fresh.cookies = organiser_client.cookies
        crash = fresh.get(f"/admin/events/{event.slug}")
    assert crash.status_code == 500 and "Something went wrong" in crash.text and "Go to the dashboard" in crash.text
