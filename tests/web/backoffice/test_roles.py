"""Organiser roles (web/backoffice/access.py): every back-office route walked as a door
volunteer and as a programme manager, with what each may see."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.routing import Route
from starlette.testclient import TestClient

from portal import cli
from portal.accounts import organisers
from portal.models import (
    AuditEntry,
    Event,
    EventStatus,
    Organiser,
    OrganiserProgramme,
    OrganiserRole,
    Registration,
    RegistrationStatus,
)
from portal.models.door import Certificate
from portal.rosters import roster
from portal.web.backoffice import access
from tests.conftest import BASE_URL
from tests.web.backoffice.conftest import PASSWORD, post, sign_in, token
from tests.web.backoffice.test_access import admin_routes, path_of, world  # noqa: F401  (world: a fixture)

DOOR_REFUSAL = "Door volunteers can use the door pages only"
MANAGER_REFUSAL = "Programme managers cannot use this page"
ADMIN_REFUSAL = "Only admins can do this"
SCOPED = {"slug", "code", "form", "id"}


def test_every_route_is_in_the_access_table(app):
    routes = {r.name for r in admin_routes(app)}
    missing = sorted(routes - set(access.RULES) - access.PUBLIC)
    assert not missing, (
        "These back-office routes are not in portal/web/backoffice/access.py RULES, so only admins can use them; "
        f"give each the roles that may use it: {', '.join(missing)}"
    )
    stale = sorted(set(access.RULES) - routes)
    assert not stale, f"access.py RULES names routes the app does not have: {', '.join(stale)}"
    # The guard's admin-only handlers are admin-only in the table too.
    admin_only = {r.name for r in admin_routes(app) if r.endpoint.access == "admin"}
    assert admin_only == {name for name, roles in access.RULES.items() if not roles}


def test_every_id_a_programme_manager_may_use_names_a_programme(app):
    # An {id} the guard cannot place in a programme is refused to programme managers: a route
    # opened to them with one needs its kind in access._IDS.
    for route in admin_routes(app):
        if access.MANAGER in access.RULES.get(route.name, ()) and "id" in route.param_convertors:
            assert route.path.split("/")[1] in access._IDS, route.path
        assert set(route.param_convertors) <= SCOPED | access.UNSCOPED, (route.path, "a path parameter access.py does not know")


@pytest.fixture
def client_for(app: Any, run: Callable[..., Any]) -> Iterator[Callable[..., TestClient]]:
    """client_for(role, programmes=()): a browser signed in as a new organiser with the role."""
    opened: list[TestClient] = []
    numbers = iter(range(1, 100))

    def _open(role: str, programmes: tuple[str, ...] = (), *, admin: bool = False) -> TestClient:
        email = f"{role.replace('_', '-')}{next(numbers)}@example.org"
        run(organisers.add_organiser, email, PASSWORD, role=role, programmes=list(programmes), is_admin=admin)
        c = TestClient(app, base_url=BASE_URL, follow_redirects=False)
        c.__enter__()
        opened.append(c)
        assert sign_in(c, email).status_code == 303
        return c

    yield _open
    for c in opened:
        c.__exit__(None, None, None)


@pytest.fixture
def other_world(world, make_programme, make_event, make_registration, run):  # type: ignore[no-untyped-def]  # noqa: F811
    """Programme B beside `world`'s programme A (tatc): its event, a registration, a
    certificate; and an event in no programme."""
    programme = make_programme(code="other", name="Other Programme")
    event = make_event(programme_id=programme.id, title="B's Event")
    registration = make_registration(event)
    shows = {"name": "Bo", "event": event.title, "programme": "", "dates": "Mon 8 Mar 2027", "days_attended": [], "days": 1, "issuer": "RSIS"}
    certificate = Certificate(code="ROLESB7EST01", registration_id=registration.id, event_id=event.id, shows=shows)
    run(lambda session: (session.add(certificate), session.flush()))
    standalone = make_event(title="Standalone Event")
    return {
        **world, "slug": event.slug, "code": programme.code, "registration": registration.id, "certificate": certificate.id,
        "form": f"programme-{programme.code}", "standalone": standalone.slug,
    }


def get_routes(app: Any) -> list[Route]:
    return [r for r in admin_routes(app) if "GET" in (r.methods or set())]


def post_routes(app: Any) -> list[Route]:
    return [r for r in admin_routes(app) if "POST" in (r.methods or set())]


def refusal_for(route: Route, door: bool) -> str:
    if not access.RULES[route.name]:
        return ADMIN_REFUSAL
    return DOOR_REFUSAL if door else MANAGER_REFUSAL


def audit_count(sessions) -> int:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def test_a_door_volunteer_reaches_the_door_pages_only(app, client_for, world):  # noqa: F811
    door = client_for("door")
    allowed = 0
    for route in get_routes(app):
        path = path_of(app, route, world)
        response = door.get(path)
        if route.name in access.PUBLIC:
            continue
        if access.DOOR in access.RULES[route.name]:
            allowed += 1
            assert response.status_code == 200, (path, response.text[:500])
        else:
            assert response.status_code == 403, path
            assert refusal_for(route, door=True) in response.text, path
    assert allowed >= 6  # dashboard, check-in, names, a session's door, tickets, the worker, password


def test_a_door_volunteer_changes_nothing_outside_the_door(app, client_for, world, sessions):  # noqa: F811
    door = client_for("door")
    before = audit_count(sessions)
    csrf = token(door, "/admin/")
    for route in post_routes(app):
        if route.name in access.PUBLIC or access.DOOR in access.RULES[route.name]:
            continue
        response = door.post(
            path_of(app, route, world),
            data={"csrf_token": csrf, "action": "cancel", "id": world["registration"], "change": "deactivate", "confirmed": "yes"},
        )
        assert response.status_code == 403, route.path
    assert audit_count(sessions) == before
    with sessions() as session:
        assert session.get_one(Registration, world["registration"]).status == RegistrationStatus.CONFIRMED
        assert session.scalar(select(Event.status).where(Event.slug == world["slug"])) == EventStatus.PUBLISHED


def test_the_door_sees_names_and_organisations_but_not_emails_or_answers(app, client_for, world, make_registration, run):  # noqa: F811
    event = run(lambda session: session.scalar(select(Event).where(Event.slug == world["slug"])))
    dora = make_registration(
        event, name="Dora Doorway", email="dora.secret@example.org", organisation="Acme Labs",
        answers={"diet": "no-peanuts-please"},
    )
    organiser = client_for("organiser")
    # With the email column chosen, an organiser's roster shows the email: the checks below mean something.
    post(organiser, f"/admin/events/{world['slug']}/columns", {"column": ["email", "organisation", "status"]})
    full = organiser.get(f"/admin/events/{world['slug']}")
    assert "dora.secret@example.org" in full.text
    door_path = f"/admin/registrations/{dora.id}"

    door = client_for("door")
    names = door.get(f"/admin/events/{world['slug']}")
    assert names.status_code == 200
    assert "Dora Doorway" in names.text and "Acme Labs" in names.text and "Confirmed" in names.text
    assert "dora.secret@example.org" not in names.text and "no-peanuts-please" not in names.text
    assert door_path not in names.text
    assert "export" not in names.text.lower() and "/messages" not in names.text
    # A search by name works; the answer filter is not the door's.
    found = door.get(f"/admin/events/{world['slug']}", params={"q": "Dora"})
    assert "Dora Doorway" in found.text

    session_page = door.get(f"/admin/events/{world['slug']}/sessions/{world['key']}")
    assert session_page.status_code == 200
    assert "Dora Doorway" in session_page.text and "dora.secret@example.org" not in session_page.text
    assert "/admin/registrations/" not in session_page.text and "export.csv" not in session_page.text

    front = door.get("/admin/")
    assert f"/admin/events/{world['slug']}/check-in" in front.text
    menu = front.text.split('class="admin-menu"')[1].split("</ul>")[0]
    for refused in ("/admin/events\"", "/admin/programmes", "/admin/outbox", "/admin/subscribers", "/admin/organisers", "/admin/speakers"):
        assert refused not in menu, refused



def test_a_door_volunteer_cannot_find_people_by_part_of_their_email(app, client_for, world, make_registration, run):  # noqa: F811
    event = run(lambda session: session.scalar(select(Event).where(Event.slug == world["slug"])))
    make_registration(event, name="Dora Doorway", email="zq.hidden@example.org", organisation="Acme Labs")
    slug, key = world["slug"], world["key"]
    pages = (f"/admin/events/{slug}", f"/admin/events/{slug}/check-in", f"/admin/events/{slug}/sessions/{key}")

    organiser = client_for("organiser")
    for path in pages:
        # An organiser finds her by her address: the door's "nobody" below means something.
        assert "Dora Doorway" in organiser.get(path, params={"q": "zq.hid"}).text, path
    assert "Name, email or organisation" in organiser.get(pages[1]).text

    door = client_for("door")
    for path in pages:
        by_email = door.get(path, params={"q": "zq.hid"})
        assert by_email.status_code == 200, path
        assert "Dora Doorway" not in by_email.text, path
        assert "Dora Doorway" in door.get(path, params={"q": "doorw"}).text, path
        assert "Dora Doorway" in door.get(path, params={"q": "acme"}).text, path
    check_in = door.get(pages[1], params={"q": "zq.hid"}).text
    assert "Name or organisation</label>" in check_in
    assert "email" not in check_in.split('role="search"', 1)[1].split("</form>", 1)[0].lower()
    assert "search by email" not in check_in

def test_the_door_list_pages_through_everyone(app, client_for, world, make_registration, run):  # noqa: F811
    event = run(lambda session: session.scalar(select(Event).where(Event.slug == world["slug"])))
    for n in range(roster.PER_PAGE):  # with the world's own registration, one more than a page
        make_registration(event, name=f"Zed {n:03d}")
    door = client_for("door")
    first = door.get(f"/admin/events/{world['slug']}")
    assert 'rel="next"' in first.text and 'rel="prev"' not in first.text and "Zed 048" in first.text
    following = re.search(r'href="([^"]+)" rel="next"', first.text).group(1).replace("&amp;", "&")
    second = door.get(following)
    assert second.status_code == 200 and "Zed 049" in second.text and "Zed 048" not in second.text
    assert 'rel="prev"' in second.text and 'rel="next"' not in second.text


def test_the_door_checks_people_in(app, client_for, world, sessions):  # noqa: F811
    door = client_for("door")
    response = post(door, f"/admin/registrations/{world['registration']}/check-in", {"action": "check_in"})
    assert response.status_code == 303
    with sessions() as session:
        assert session.get_one(Registration, world["registration"]).checked_in_at is not None


def test_a_programme_manager_reaches_their_programme_and_nothing_else(app, client_for, other_world):
    manager = client_for("programme_manager", ("tatc",))
    others = other_world
    for route in get_routes(app):
        if route.name in access.PUBLIC:
            continue
        allowed = access.MANAGER in access.RULES[route.name]
        scoped = bool(SCOPED & set(route.param_convertors)) and not route.path.startswith(("/organisers", "/subscribers"))
        response = manager.get(path_of(app, route, others))
        if not allowed:
            assert response.status_code == 403, route.path
            assert refusal_for(route, door=False) in response.text, route.path
        elif scoped:
            assert response.status_code == 404, (route.path, response.status_code)
            # As for an address where there is nothing: nothing says the thing exists.
            assert "There is nothing at this address" in response.text
        else:
            assert response.status_code == 200, (route.path, response.text[:500])


def test_a_programme_manager_uses_every_page_of_their_programme(app, client_for, world):  # noqa: F811
    manager = client_for("programme_manager", ("tatc",))
    for route in get_routes(app):
        if route.name in access.PUBLIC or access.MANAGER not in access.RULES[route.name]:
            continue
        path = path_of(app, route, world)
        response = manager.get(path)
        assert response.status_code == 200, (path, response.text[:500])


def test_a_programme_manager_changes_nothing_in_another_programme(app, client_for, other_world, sessions):
    manager = client_for("programme_manager", ("tatc",))
    before = audit_count(sessions)
    csrf = token(manager, "/admin/")
    for route in post_routes(app):
        if route.name in access.PUBLIC or access.MANAGER not in access.RULES[route.name]:
            continue
        if not SCOPED & set(route.param_convertors):
            continue
        response = manager.post(
            path_of(app, route, other_world),
            data={"csrf_token": csrf, "action": "cancel", "id": other_world["registration"], "confirmed": "yes", "change": "remove"},
        )
        assert response.status_code == 404, route.path
    assert audit_count(sessions) == before
    with sessions() as session:
        assert session.scalar(select(Event.status).where(Event.slug == other_world["slug"])) == EventStatus.PUBLISHED
        assert session.get_one(Registration, other_world["registration"]).status == RegistrationStatus.CONFIRMED
        assert session.get_one(Certificate, other_world["certificate"]).revoked_at is None
    # An event in no programme is no programme manager's either.
    assert post(manager, f"/admin/events/{other_world['standalone']}/unpublish").status_code == 404
    with sessions() as session:
        assert session.scalar(select(Event.status).where(Event.slug == other_world["standalone"])) == EventStatus.PUBLISHED


def test_a_programme_manager_lists_only_their_programmes_events(app, client_for, other_world, sessions):
    manager = client_for("programme_manager", ("tatc",))
    events = manager.get("/admin/events").text
    assert "B&#39;s Event" not in events and "B's Event" not in events and "Standalone Event" not in events
    dashboard = manager.get("/admin/").text
    assert "B&#39;s Event" not in dashboard and "Standalone Event" not in dashboard
    programmes = manager.get("/admin/programmes").text
    assert "Other Programme" not in programmes and "/admin/programmes/tatc/edit" in programmes
    form = manager.get("/admin/events/new").text
    assert 'value="other"' not in form and "standalone" not in form.lower() and 'value="tatc"' in form
    assert manager.get(f"/admin/events/{other_world['standalone']}").status_code == 404
    menu = dashboard.split('class="admin-menu"')[1].split("</ul>")[0]
    assert "/admin/events" in menu and "/admin/outbox" not in menu and "/admin/subscribers" not in menu


def test_a_programme_manager_sees_the_events_of_their_programme(app, client_for, world, make_event, sessions):  # noqa: F811
    with sessions() as session:
        programme_id = session.scalar(select(Event.programme_id).where(Event.slug == world["slug"]))
    make_event(programme_id=programme_id, title="A Second Event In A")
    manager = client_for("programme_manager", ("tatc",))
    events = manager.get("/admin/events").text
    assert "A Second Event In A" in events
    # A new event must go in their programme.
    data = {
        "slug": "managers-own", "title": "The Manager's Own", "programme": "other", "category": "seminar",
        "starts_at": "2031-03-01T10:00", "ends_at": "2031-03-01T12:00", "timezone": "Asia/Singapore",
    }
    refused = post(manager, "/admin/events/new", data, token_from="/admin/events/new")
    assert refused.status_code == 422
    with sessions() as session:
        assert session.scalar(select(Event.id).where(Event.slug == "managers-own")) is None


def test_admins_give_roles_and_programmes(admin_client, make_programme, sessions):
    make_programme(code="tatc", name="TATC")
    make_programme(code="other", name="Other")
    page = admin_client.get("/admin/organisers").text
    assert "Door volunteer: the door pages only" in page and 'name="programmes" value="tatc"' in page
    data = {"email": "pm@example.org", "password": PASSWORD, "role": "programme_manager", "programmes": ["tatc"]}
    assert post(admin_client, "/admin/organisers", data, token_from="/admin/organisers").status_code == 303
    no_programme = post(admin_client, "/admin/organisers", dict(data, email="pm2@example.org", programmes=[]), token_from="/admin/organisers")
    assert no_programme.status_code == 400 and "at least one programme" in no_programme.text
    with sessions() as session:
        pm = session.scalar(select(Organiser).where(Organiser.email == "pm@example.org"))
        assert pm.role == OrganiserRole.PROGRAMME_MANAGER
        assert organisers.programme_codes_of(session, pm.id) == ["tatc"]
    listing = admin_client.get("/admin/organisers").text
    assert "Programme manager" in listing
    # Another role: the programmes go; the change is in the audit log.
    response = post(admin_client, f"/admin/organisers/{pm.id}", {"change": "set_role", "role": "door", "programmes": ["tatc"]}, token_from="/admin/organisers")
    assert response.status_code == 303
    assert "Door volunteer" in admin_client.get(response.headers["location"]).text
    with sessions() as session:
        assert session.get_one(Organiser, pm.id).role == OrganiserRole.DOOR
        assert session.scalar(select(func.count()).select_from(OrganiserProgramme).where(OrganiserProgramme.organiser_id == pm.id)) == 0
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "organiser.set_role")).one()
        assert entry.before["role"] == "programme_manager" and entry.after == {"email": "pm@example.org", "role": "door", "programmes": []}
    bad = post(admin_client, f"/admin/organisers/{pm.id}", {"change": "set_role", "role": "emperor"}, token_from="/admin/organisers")
    assert "is not a role" in admin_client.get(bad.headers["location"]).text


def test_a_role_change_applies_at_the_next_request(app, client_for, run, sessions, world):  # noqa: F811
    door = client_for("door")
    assert door.get("/admin/events").status_code == 403
    with sessions() as session:
        door_id = session.scalar(select(Organiser.id).where(Organiser.role == OrganiserRole.DOOR))
    run(lambda session: setattr(session.get_one(Organiser, door_id), "role", OrganiserRole.ORGANISER))
    assert door.get("/admin/events").status_code == 200


def test_the_command_line_adds_roles(portal_env, monkeypatch, sessions, capsys, make_programme):
    make_programme(code="tatc")
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert cli.main(["organiser", "add", "pm@example.org", "--role", "programme-manager", "--programme", "tatc", "--password-stdin"]) == 0
    assert "added programme manager of tatc pm@example.org" in capsys.readouterr().out
    with sessions() as session:
        pm = session.scalar(select(Organiser).where(Organiser.email == "pm@example.org"))
        assert pm.role == OrganiserRole.PROGRAMME_MANAGER and organisers.programme_codes_of(session, pm.id) == ["tatc"]

    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert cli.main(["organiser", "add", "x@example.org", "--role", "programme-manager", "--programme", "nope", "--password-stdin"]) == 2
    assert "There is no programme with the code 'nope'" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert cli.main(["organiser", "add", "y@example.org", "--role", "door", "--programme", "tatc", "--password-stdin"]) == 2
    assert "Only programme managers have programmes" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert cli.main(["organiser", "add", "door@example.org", "--role", "door", "--password-stdin"]) == 0
    assert "added door volunteer door@example.org" in capsys.readouterr().out
    with sessions() as session:
        assert session.scalar(select(Organiser.id).where(Organiser.email.in_(["x@example.org", "y@example.org"]))) is None
