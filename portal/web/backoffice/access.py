"""Who may use which back-office route: one table, checked by the guard (auth._guard) on
every request, before the handler runs.

Admins may use every route. Every other organiser has a role (models.OrganiserRole):

- organiser: every route but the organiser accounts;
- programme manager: the routes below that allow them, and only for what belongs to one of
  their programmes. The guard finds the programme from the route's path parameters (an
  event's slug, a programme's code, a registration's or certificate's id, a form's
  "programme-CODE" or "event-SLUG"); an event without a programme belongs to none. Something
  outside their programmes answers 404, as something that does not exist does: a programme
  manager learns nothing of other programmes, not even that an address is in use. Lists
  (dashboard, events, programmes) show their programmes' events only;
- door volunteer: the door pages only (the check-in page and its scanner, a session's
  check-in, and the roster in the door's form: names, organisations and status).

A route is refused (403) to a role the table does not name for it, and a route missing from
the table is refused to every role but the admins' (tests/web/backoffice/test_roles.py
fails until it is added).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from portal.audit import Actor
from portal.models import Event, OrganiserRole, Programme, Registration
from portal.models.door import Certificate

ORGANISER, MANAGER, DOOR = OrganiserRole.ORGANISER, OrganiserRole.PROGRAMME_MANAGER, OrganiserRole.DOOR
EVERYONE = frozenset({ORGANISER, MANAGER, DOOR})
RUNS_EVENTS = frozenset({ORGANISER, MANAGER})  # organisers and programme managers
ORGANISERS = frozenset({ORGANISER})
ADMINS = frozenset[OrganiserRole]()  # admins only

# Open to everyone, signed in or not: signing in and out.
PUBLIC = frozenset({"sign_in", "sign_out"})

# Route name (the handler's name) -> the roles besides admins that may use it.
RULES: dict[str, frozenset[OrganiserRole]] = {
    # Their own account, and the front page (each role sees its own form of it).
    "change_password": EVERYONE,
    "dashboard": EVERYONE,
    # The door: the check-in page, its scanner and offline tickets, a walk-in, a session's
    # check-in, and the roster in the door's form (names, organisations, status).
    "door_worker": EVERYONE,
    "door_scan": EVERYONE,
    "door_sync": EVERYONE,
    "door_tickets": EVERYONE,
    "check_in": EVERYONE,
    "check_in_registration": EVERYONE,
    "add_walk_in": EVERYONE,
    "show_session": EVERYONE,  # a session's door: in the door's form, without emails
    "check_in_session": EVERYONE,
    "show_event": EVERYONE,
    # Events and programmes (a programme manager's own).
    "list_events": RUNS_EVENTS,
    "new_event": RUNS_EVENTS,  # a programme manager's new events go in their programmes
    "edit_event": RUNS_EVENTS,
    "publish_event": RUNS_EVENTS,
    "unpublish_event": RUNS_EVENTS,
    "cancel_event": RUNS_EVENTS,
    "anonymise_event": RUNS_EVENTS,  # privacy.py: an ended event's registrations, early
    "duplicate_event": RUNS_EVENTS,
    "list_programmes": RUNS_EVENTS,
    "new_programme": ORGANISERS,
    "edit_programme": RUNS_EVENTS,
    "edit_followup": RUNS_EVENTS,
    "remove_followup": RUNS_EVENTS,
    "announce_again": RUNS_EVENTS,
    "list_messages": RUNS_EVENTS,
    "new_message": RUNS_EVENTS,
    # Rosters and registrations.
    "update_registrations": RUNS_EVENTS,
    "event_audit": RUNS_EVENTS,
    "export_roster": RUNS_EVENTS,
    "show_registration": RUNS_EVENTS,
    "update_registration": RUNS_EVENTS,
    "download_upload": RUNS_EVENTS,
    "reveal_answer": RUNS_EVENTS,  # one sensitive answer, recorded (rosters.data_access)
    "edit_registration": RUNS_EVENTS,
    "update_details": RUNS_EVENTS,
    "add_note": RUNS_EVENTS,
    "choose_roster_columns": RUNS_EVENTS,
    # Registration forms: "programme-CODE" and "event-SLUG" are a programme's; "default",
    # the site's form, is no programme's.
    "show_form": RUNS_EVENTS,
    "add_question": RUNS_EVENTS,
    "edit_question": RUNS_EVENTS,
    "change_question": RUNS_EVENTS,
    "update_form_settings": RUNS_EVENTS,
    "preview_form": RUNS_EVENTS,
    "copy_form": RUNS_EVENTS,
    "give_event_form": RUNS_EVENTS,
    "use_programme_form": RUNS_EVENTS,
    # Certificates, badges, sessions.
    "list_certificates": RUNS_EVENTS,
    "issue_certificates": RUNS_EVENTS,
    "show_certificate": RUNS_EVENTS,
    "download_certificate_pdf": RUNS_EVENTS,
    "reissue_certificate": RUNS_EVENTS,
    "revoke_certificate": RUNS_EVENTS,
    "download_badges": RUNS_EVENTS,
    "list_sessions": RUNS_EVENTS,
    "new_session": RUNS_EVENTS,
    "edit_session": RUNS_EVENTS,
    "cancel_session": RUNS_EVENTS,
    "restore_session": RUNS_EVENTS,
    "delete_session": RUNS_EVENTS,
    "export_session": RUNS_EVENTS,
    # Speakers are shared by every programme's timetables and hold no registrant's data.
    "list_speakers": RUNS_EVENTS,
    "new_speaker": RUNS_EVENTS,
    "edit_speaker": RUNS_EVENTS,
    "speaker_photo": RUNS_EVENTS,
    # Every programme's at once: organisers only.
    "list_outbox": ORGANISERS,
    "resend_message": ORGANISERS,
    "list_subscribers": ORGANISERS,
    "export_subscribers": ORGANISERS,
    "remove_subscriber": ORGANISERS,
    # Organiser accounts.
    "list_organisers": ADMINS,
    "add_organiser": ADMINS,
    "update_organiser": ADMINS,
    # Who exported or revealed personal data (data_access.py).
    "show_data_access": ADMINS,
    "export_data_access": ADMINS,
}

_REFUSED = {
    DOOR: "Door volunteers can use the door pages only: the check-in page and the event's list of names.",
    MANAGER: "Programme managers cannot use this page: it covers every programme, not only yours.",
    ORGANISER: "Only admins can use this page.",
}
# The 404's detail; the error page says only that there is nothing at the address, as it
# does where there is nothing at all (app.py), so that nothing tells that the thing exists.
NOT_THEIRS = "There is nothing at this address among your programmes' events."


def allowed(who: Actor | None, name: str) -> bool:
    """Whether `who` may use the route `name` at all (their programmes aside): for the guard,
    and for the menu, which shows only what the role may use."""
    if name in PUBLIC:
        return True
    if who is None:
        return False
    if who.is_admin:
        return True
    return name in RULES and who.role in RULES[name]


def refusal(who: Actor, name: str) -> str:
    if name not in RULES:
        return "This page is not in the back office's table of who may use it yet; only admins can use it."
    if not RULES[name]:
        return _REFUSED[ORGANISER]
    return _REFUSED.get(who.role, _REFUSED[ORGANISER])


# --- which programme a path names -----------------------------------------------------------

class _Nothing:
    """A path that names nothing in any programme (an unknown slug, the site's default form)."""


NOTHING = _Nothing()


def _of_event(session: Session, slug: str) -> int | None | _Nothing:
    found = session.execute(select(Event.programme_id).where(Event.slug == slug)).first()
    return NOTHING if found is None else found[0]


def _of_programme(session: Session, code: str) -> int | None | _Nothing:
    found = session.scalar(select(Programme.id).where(Programme.code == code))
    return NOTHING if found is None else found


def _of_registration(session: Session, registration_id: int) -> int | None | _Nothing:
    found = session.execute(
        select(Event.programme_id).join(Registration, Registration.event_id == Event.id).where(Registration.id == registration_id)
    ).first()
    return NOTHING if found is None else found[0]


def _of_certificate(session: Session, certificate_id: int) -> int | None | _Nothing:
    found = session.execute(
        select(Event.programme_id).join(Certificate, Certificate.event_id == Event.id).where(Certificate.id == certificate_id)
    ).first()
    return NOTHING if found is None else found[0]


def form_programme(session: Session, ref: str) -> int | None | _Nothing:
    """The programme a form builder's form belongs to: "programme-CODE", "event-SLUG"."""
    kind, _, rest = ref.partition("-")
    if kind == "programme" and rest:
        return _of_programme(session, rest)
    if kind == "event" and rest:
        return _of_event(session, rest)
    return NOTHING


def visible_forms(session: Session, who: Actor, refs: list[str]) -> list[str]:
    """The forms among `refs` that `who` may see (a programme manager: their programmes')."""
    if not who.is_programme_manager:
        return refs
    return [ref for ref in refs if not isinstance(p := form_programme(session, ref), _Nothing) and who.sees_programme(p)]


# What an {id} names, by the first part of the route's path.
_IDS = {"registrations": _of_registration, "certificates": _of_certificate}


def programmes_named(session: Session, first_segment: str, params: dict[str, Any]) -> list[int | None | _Nothing]:
    """The programme of each thing the path parameters name. `first_segment` is the first
    part of the path under /admin (events, registrations, forms...), which says what an {id}
    is. A parameter the table here does not know names nothing: refused, never let through."""
    found: list[int | None | _Nothing] = []
    if "slug" in params:
        found.append(_of_event(session, params["slug"]))
    if "code" in params:
        found.append(_of_programme(session, params["code"]))
    if "form" in params:
        found.append(form_programme(session, params["form"]))
    if "id" in params:
        lookup = _IDS.get(first_segment)
        found.append(lookup(session, params["id"]) if lookup else NOTHING)
    return found


# Parameters that need no programme of their own: a session's or an upload's key under an
# event, a question's index in a form, an export's format, a speaker's key (speakers are shared).
UNSCOPED = frozenset({"key", "index", "fmt"})


def sees_path(session: Session, who: Actor, first_segment: str, params: dict[str, Any]) -> bool:
    """Whether `who` may see what the path names: always, unless a programme manager, who
    sees only what belongs to their programmes."""
    if not who.is_programme_manager:
        return True
    if set(params) - UNSCOPED - {"slug", "code", "form", "id"}:
        return False
    return all(not isinstance(p, _Nothing) and who.sees_programme(p) for p in programmes_named(session, first_segment, params))


def check(who: Actor, name: str) -> None:
    """Refuse (403) a route the role may not use at all."""
    if not allowed(who, name):
        raise HTTPException(403, refusal(who, name))
