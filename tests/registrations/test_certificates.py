"""Certificates of attendance, at the service level: who has earned one by the event's rule,
issuing (once), reissuing with a corrected name, revoking, verifying a code, the audit."""

from __future__ import annotations

import io
import json
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from portal.audit import Actor
from portal.db import utcnow
from portal.errors import InvalidInput, InvalidTransition, NotFound
from portal.models import AuditEntry, Certificate, EventStatus, Registration, RegistrationStatus
from portal.registrations import certificates, checkins
from portal.registrations.certificates import ALPHABET, CountChanged, display_code, normalise_code
from portal.registrations.limits import TooManyRequests
from portal.settings import Settings, SettingsError
from portal.templating import local_date

SGT = ZoneInfo("Asia/Singapore")
ISSUER = "Institute of Testing"
NOBODY: Actor | None = None


def local(day, hour=9, minute=30):  # type: ignore[no-untyped-def]
    return datetime.combine(day, time(hour, minute), tzinfo=SGT)


@pytest.fixture
def course(make_programme, make_event):  # type: ignore[no-untyped-def]
    """course(rule=None, days=5, ended=True): a course of `days` days, 09:00-17:00 in
    Singapore, over a while ago (or on its last day now, when not ended)."""

    def _make(rule=None, days=5, ended=True, **overrides):  # type: ignore[no-untyped-def]
        today = utcnow().astimezone(SGT).date()
        first = today - timedelta(days=days + 3) if ended else today - timedelta(days=days - 1)
        programme = make_programme(name="Terrorism Analyst Training Course")
        return make_event(
            programme_id=programme.id, title="TATC March", starts_at=local(first, 9, 0),
            ends_at=local(first + timedelta(days=days - 1), 17, 0), certificate_rule=rule, **overrides,
        )

    return _make


@pytest.fixture
def attend(run):  # type: ignore[no-untyped-def]
    """attend(event, registration, *day_numbers): check them in on those days (0 = the first)."""

    def _attend(event, registration, *numbers):  # type: ignore[no-untyped-def]
        def _do(session):  # type: ignore[no-untyped-def]
            days = checkins.event_days(event)
            for n in numbers:
                checkins.admit(session, event, session.get_one(Registration, registration.id), at=local(days[n]))

        run(_do)

    return _attend


def issue(run, event, ids=None, **kwargs):  # type: ignore[no-untyped-def]
    return run(certificates.issue, NOBODY, event.slug, ids, issuer=ISSUER, **kwargs)


def pdf_text(pdf: bytes) -> str:
    """The text of a PDF as pypdf reads it back. Characters of a CJK font come back with a NUL
    before each (pypdf reads its two-byte codes' Unicode map so); the text is the same."""
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).replace("\x00", "")


def live(sessions, registration_id):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(session.scalars(select(Certificate).where(Certificate.registration_id == registration_id, Certificate.revoked_at.is_(None))))


@pytest.mark.parametrize(
    ("rule", "earned"),
    [(None, {5}), ({"days": 3}, {3, 4, 5}), ({"share": 0.5}, {3, 4, 5}), ({"share": 0.2}, {1, 2, 3, 4, 5})],
)
def test_who_has_earned_one_follows_the_rule(run, course, make_registration, attend, rule, earned):
    event = course(rule)
    people = {}
    for n in range(1, 6):
        people[n] = make_registration(event, name=f"Attended {n}")
        attend(event, people[n], *range(n))
    absent = make_registration(event, name="Never came")
    cancelled = make_registration(event, name="Cancelled after coming", status=RegistrationStatus.CANCELLED)
    attend(event, cancelled, 0, 1, 2, 3, 4)
    issued = issue(run, event)
    assert {c.registration_id for c in issued} == {people[n].id for n in earned}
    assert absent.id not in {c.registration_id for c in issued}


def test_what_a_certificate_shows(run, course, make_registration, attend):
    event = course({"days": 2})
    ada = make_registration(event, name="Ada Lovelace", email="ada@example.org", organisation="Analytical Engines")
    attend(event, ada, 1, 3)
    attend(event, ada, 3)  # a second scan on the same day is one day
    [certificate] = issue(run, event)
    days = checkins.event_days(event)
    issued_on = certificate.shows.pop("issued_on")
    assert issued_on == local_date(certificate.issued_at, event.timezone)
    assert certificate.shows == {
        "name": "Ada Lovelace",
        "event": "TATC March",
        "programme": "Terrorism Analyst Training Course",
        "dates": f"{days[0].strftime('%a %-d %b')} – {days[-1].strftime('%a %-d %b %Y')}"
        if days[0].year == days[-1].year else f"{days[0].strftime('%a %-d %b %Y')} – {days[-1].strftime('%a %-d %b %Y')}",
        "days_attended": [days[1].strftime("%a %-d %b %Y"), days[3].strftime("%a %-d %b %Y")],
        "days": 5,
        "issuer": ISSUER,
    }
    assert len(certificate.code) == 12 and set(certificate.code) <= set(ALPHABET)


def test_issuing_twice_gives_no_second_certificate(run, sessions, course, make_registration, attend):
    event = course()
    people = [make_registration(event) for _ in range(3)]
    for person in people:
        attend(event, person, 0, 1, 2, 3, 4)
    assert len(issue(run, event)) == 3
    assert issue(run, event) == []
    assert issue(run, event, [p.id for p in people]) == []
    later = make_registration(event)
    attend(event, later, 0, 1, 2, 3, 4)
    assert [c.registration_id for c in issue(run, event)] == [later.id]
    for person in [*people, later]:
        assert len(live(sessions, person.id)) == 1


def test_issue_waits_for_the_last_day_and_refuses_a_cancelled_event(run, course, make_registration, attend):
    event = course(days=3, ended=False)
    ada = make_registration(event)
    attend(event, ada, 0, 1, 2)
    last = checkins.event_days(event)[-1]
    with pytest.raises(InvalidTransition, match="last day"):
        issue(run, event, now=datetime.combine(last, time(0, 0), tzinfo=SGT) - timedelta(seconds=1))
    assert len(issue(run, event, now=datetime.combine(last, time(0, 0), tzinfo=SGT))) == 1

    gone = course(status=EventStatus.CANCELLED)
    bob = make_registration(gone)
    attend(gone, bob, 0, 1, 2, 3, 4)
    with pytest.raises(InvalidTransition, match="cancelled"):
        issue(run, gone)


def test_issuing_all_after_a_confirmation_refuses_a_changed_count(run, course, make_registration, attend):
    event = course()
    ada = make_registration(event)
    attend(event, ada, 0, 1, 2, 3, 4)
    bob = make_registration(event)
    attend(event, bob, 0, 1, 2, 3, 4)
    with pytest.raises(CountChanged) as refused:
        issue(run, event, expected=1)
    assert refused.value.count == 2
    assert len(issue(run, event, expected=2)) == 2


def test_reissue_gives_a_new_code_and_revokes_the_old_as_it_was(run, sessions, course, make_registration, attend):
    event = course()
    ada = make_registration(event, name="Ada Lovelaec")
    attend(event, ada, 0, 1, 2, 3, 4)
    [old] = issue(run, event)
    new = run(certificates.reissue, NOBODY, old.id, "  Ada   Lovelace ", issuer=ISSUER)
    assert new.code != old.code
    assert new.shows == {**old.shows, "name": "Ada Lovelace"}
    with sessions() as session:
        before = session.get_one(Certificate, old.id)
        assert before.revoked_at is not None and before.revoked_reason == certificates.REPLACED
        assert before.replaced_by == new.id
        assert before.shows == old.shows and before.shows["name"] == "Ada Lovelaec"
    assert [c.id for c in live(sessions, ada.id)] == [new.id]
    with pytest.raises(InvalidTransition):
        run(certificates.reissue, NOBODY, old.id, "Someone Else", issuer=ISSUER)
    with pytest.raises(InvalidInput):
        run(certificates.reissue, NOBODY, new.id, "   ", issuer=ISSUER)
    # Without a name, the registration's own, as it now is.
    again = run(certificates.reissue, NOBODY, new.id, None, issuer=ISSUER)
    assert again.shows["name"] == "Ada Lovelaec"


def test_revoke_and_issuing_all_leaves_a_revoked_one_out(run, sessions, course, make_registration, attend):
    event = course()
    ada = make_registration(event)
    attend(event, ada, 0, 1, 2, 3, 4)
    [certificate] = issue(run, event)
    with pytest.raises(InvalidInput):
        run(certificates.revoke, NOBODY, certificate.id, "  ")
    run(certificates.revoke, NOBODY, certificate.id, "Issued in error")
    with sessions() as session:
        row = session.get_one(Certificate, certificate.id)
        assert row.revoked_at is not None and row.revoked_reason == "Issued in error" and row.replaced_by is None
    with pytest.raises(InvalidTransition):
        run(certificates.revoke, NOBODY, certificate.id, "twice")
    with pytest.raises(InvalidTransition):
        run(certificates.reissue, NOBODY, certificate.id, "Ada", issuer=ISSUER)
    # "Everyone" leaves out whoever had theirs revoked; choosing them issues a new one.
    assert issue(run, event) == []
    [again] = issue(run, event, [ada.id])
    assert again.code != certificate.code
    with pytest.raises(NotFound):
        run(certificates.revoke, NOBODY, 10**9, "no such")


def test_codes_are_read_forgivingly():
    code = certificates.new_code()
    assert len(code) == 12 and set(code) <= set(ALPHABET)
    assert len({certificates.new_code() for _ in range(200)}) == 200
    assert display_code("7K3QX2M49DAB") == "7K3Q-X2M4-9DAB"
    for typed in ("7K3Q-X2M4-9DAB", "7k3q x2m4 9dab", " 7k3q-x2m4-9dab ", "7K3QX2M49DAB"):
        assert normalise_code(typed) == "7K3QX2M49DAB"
    assert normalise_code("IL0O-0000-0000") == "1100" + "0" * 8
    for bad in ("", "7K3Q-X2M4-9DA", "7K3Q-X2M4-9DABC", "7K3Q-X2M4-9DAU", "7K3Q/X2M4/9DAB", "x" * 1000):
        assert normalise_code(bad) is None


def test_verify_says_genuine_revoked_or_unknown(run, course, make_registration, attend):
    event = course()
    ada, bob = make_registration(event, name="Ada"), make_registration(event, name="Bob")
    for person in (ada, bob):
        attend(event, person, 0, 1, 2, 3, 4)
    first, second = sorted(issue(run, event), key=lambda c: c.shows["name"])
    run(certificates.revoke, NOBODY, second.id, "a reason")
    genuine = run(certificates.verify, first.code.lower(), "192.0.2.1")
    assert (genuine.state, genuine.code, genuine.shows) == ("genuine", display_code(first.code), first.shows)
    revoked = run(certificates.verify, display_code(second.code), "192.0.2.1")
    assert revoked.state == "revoked" and revoked.revoked_at is not None and not revoked.replaced
    assert run(certificates.verify, "0000-0000-0000", "192.0.2.1").state == "unknown"
    assert run(certificates.verify, "not a code", "192.0.2.1").state == "unknown"


def test_verify_is_throttled_per_client(run, course):
    course()
    for _ in range(3):
        run(certificates.verify, "0000-0000-0000", "192.0.2.7", limit=3)
    with pytest.raises(TooManyRequests) as refused:
        run(certificates.verify, "0000-0000-0000", "192.0.2.7", limit=3)
    assert 1 <= refused.value.retry_after <= 60
    # Another client is not held back.
    assert run(certificates.verify, "0000-0000-0000", "192.0.2.8", limit=3).state == "unknown"


def test_files_for_the_participant_the_organisers_and_the_export(run, course, make_registration, attend):
    event = course()
    ada = make_registration(event, name="Ådá O'Lovelace / ../etc")
    chen = make_registration(event, name="陈美玲")
    waiting = make_registration(event, name="Not yet")
    for person in (ada, chen):
        attend(event, person, 0, 1, 2, 3, 4)
    with pytest.raises(NotFound):
        run(certificates.participant_file, waiting.token)
    issued = {c.registration_id: c for c in issue(run, event)}
    mine = run(certificates.participant_file, ada.token)
    assert mine.code == issued[ada.id].code and mine.shows["name"] == ada.name
    assert mine.filename == f"certificate-{mine.code}-ada-o-lovelace-etc.pdf"
    assert run(certificates.participant_file, chen.token).filename == f"certificate-{issued[chen.id].code}.pdf"
    assert [f.code for f in run(certificates.event_files, event.slug)] == [issued[ada.id].code, issued[chen.id].code]
    run(certificates.revoke, NOBODY, issued[chen.id].id, "error")
    assert [f.code for f in run(certificates.event_files, event.slug)] == [issued[ada.id].code]
    with pytest.raises(NotFound):
        run(certificates.participant_file, chen.token)
    with pytest.raises(InvalidTransition):
        run(certificates.organiser_file, issued[chen.id].id)
    assert run(certificates.organiser_file, issued[ada.id].id).code == issued[ada.id].code
    assert run(certificates.live_code, ada.id) == issued[ada.id].code
    assert run(certificates.live_code, chen.id) is None


def test_every_issue_and_revocation_is_audited_without_personal_text(run, sessions, course, make_registration, attend, make_organiser):
    olga = make_organiser("olga@example.org", name="Olga")
    event = course()
    ada = make_registration(event, name="Ada Lovelace", email="ada@example.org")
    attend(event, ada, 0, 1, 2, 3, 4)
    [first] = run(certificates.issue, olga, event.slug, None, issuer=ISSUER)
    second = run(certificates.reissue, olga, first.id, "Ada King", issuer=ISSUER)
    run(certificates.revoke, olga, second.id, "Left before the end")
    with sessions() as session:
        entries = list(session.scalars(select(AuditEntry).where(AuditEntry.action.like("certificate.%")).order_by(AuditEntry.id)))
    assert [(e.action, e.organiser_id, e.registration_id, e.event_id) for e in entries] == [
        ("certificate.issue", olga.id, ada.id, event.id),
        ("certificate.revoke", olga.id, ada.id, event.id),
        ("certificate.issue", olga.id, ada.id, event.id),
        ("certificate.revoke", olga.id, ada.id, event.id),
    ]
    assert entries[0].after == {"certificate": first.id, "days_attended": 5}
    assert entries[1].after == {"certificate": first.id, "reason": certificates.REPLACED, "replaced_by": second.id}
    assert entries[2].after == {"certificate": second.id, "replaces": first.id, "days_attended": 5, "name_changed": True}
    assert entries[3].after == {"certificate": second.id, "reason": "Left before the end"}
    logged = json.dumps([[e.before, e.after] for e in entries])
    for personal in ("Ada", "Lovelace", "King", "ada@example.org", first.code, second.code):
        assert personal not in logged


def test_the_issuer_is_a_setting(tmp_path):
    assert Settings.from_env(environ={}, cwd=tmp_path).issuer == "RSIS Events"
    named = Settings.from_env(environ={"PORTAL_ISSUER": "  S. Rajaratnam School of\tInternational Studies "}, cwd=tmp_path)
    assert named.issuer == "S. Rajaratnam School of International Studies"
    with pytest.raises(SettingsError, match="PORTAL_ISSUER"):
        Settings.from_env(environ={"PORTAL_ISSUER": "x" * 201}, cwd=tmp_path)
