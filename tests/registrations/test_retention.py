"""Retention: registrations are anonymised once their event ended more than the period ago,
counted in the event's own zone; the run is resumable, idempotent and audited by count."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal import cli
from portal.catalogue.imports import import_data
from portal.errors import ImportProblem, InvalidTransition
from portal.models import AuditActor, AuditEntry, Event, Programme, Registration, RegistrationStatus, Upload
from portal.models.door import Certificate
from portal.registrations import certificates, retention, uploads
from portal.registrations.anonymise import ANONYMISED_NAME
from portal.registrations.retention import Run, due_counts, run_batch, run_retention
from portal.text import Period
from tests.mail.conftest import command_environment

DEFAULT = Period(months=24)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.fixture
def registration_of(sessions):  # type: ignore[no-untyped-def]
    def _get(registration_id: int) -> Registration:
        with sessions() as session:
            return session.get_one(Registration, registration_id)

    return _get


def audit_entries(sessions, action: str = retention.ACTION) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


# The boundary, in zones far from UTC. Auckland: the run ends at 09:00 on 10 March 2025 there,
# which is still 9 March in UTC; kept through 10 March 2027 in Auckland, anonymised from the
# midnight after it, 11:00 UTC on 10 March (NZDT, +13). Los Angeles: the run ends at 18:00 on
# 20 June 2025 there, already 21 June in UTC; kept through 20 June 2027 there, anonymised from
# 07:00 UTC on 21 June (PDT, -7).
BOUNDARIES = [
    ("Pacific/Auckland", "2025-03-08T09:00:00+13:00", "2025-03-10T09:00:00+13:00", "2027-03-10T11:00:00+00:00"),
    ("America/Los_Angeles", "2025-06-19T09:00:00-07:00", "2025-06-20T18:00:00-07:00", "2027-06-21T07:00:00+00:00"),
]


@pytest.mark.parametrize(("zone", "starts", "ends", "due"), BOUNDARIES, ids=["auckland", "los-angeles"])
def test_kept_through_the_last_local_day_and_anonymised_from_the_next_midnight(
    zone, starts, ends, due, run, make_event, make_registration, registration_of,
):  # type: ignore[no-untyped-def]
    event = make_event(timezone=zone, starts_at=at(starts), ends_at=at(ends))
    registration = make_registration(event, name="Ada Lovelace", email="ada@example.org", organisation="RSIS")
    midnight = at(due)

    assert retention.retention_of(event, None, DEFAULT).due_at == midnight
    before = midnight - timedelta(minutes=1)
    assert run(due_counts, before, DEFAULT) == []
    assert run(run_batch, Run(), before, DEFAULT).anonymised == 0
    kept = registration_of(registration.id)
    assert (kept.name, kept.email, kept.anonymised_at) == ("Ada Lovelace", "ada@example.org", None)

    after = midnight + timedelta(minutes=1)
    [due_event] = run(due_counts, after, DEFAULT)
    assert (due_event.slug, due_event.count) == (event.slug, 1)
    assert run(run_batch, Run(), after, DEFAULT).anonymised == 1
    gone = registration_of(registration.id)
    assert gone.name == ANONYMISED_NAME and "ada" not in gone.email and gone.organisation == ""
    assert gone.anonymised_at == after
    assert gone.status == RegistrationStatus.CONFIRMED  # the numbers stay


def test_the_programme_period_wins_over_the_setting(run, make_programme, make_event, make_registration):  # type: ignore[no-untyped-def]
    short = make_programme(retention="P30D")
    ended = at("2026-01-10T17:00:00+08:00")
    in_short = make_event(programme_id=short.id, starts_at=ended - timedelta(hours=8), ends_at=ended)
    in_default = make_event(starts_at=ended - timedelta(hours=8), ends_at=ended)
    make_registration(in_short)
    make_registration(in_default)

    now = at("2026-02-10T00:01:00+08:00")  # 31 days on: past P30D (kept through 9 Feb), far inside P24M
    assert [(d.slug, d.count, d.retention.period.iso()) for d in run(due_counts, now, DEFAULT)] == [(in_short.slug, 1, "P30D")]
    assert {d.slug for d in run(due_counts, now, Period(days=20))} == {in_short.slug, in_default.slug}


def test_an_event_not_yet_ended_is_never_due(run, make_event, make_registration):  # type: ignore[no-untyped-def]
    event = make_event()  # in 30 days
    make_registration(event)
    assert run(due_counts, None, Period(days=1)) == []
    assert run(run_batch, Run(), None, Period(days=1)).anonymised == 0


@pytest.fixture
def past(make_event, make_registration):  # type: ignore[no-untyped-def]
    """An event that ended in March 2024 with five registrations, and a later run's `now`."""
    ended = at("2024-03-15T17:00:00+08:00")
    event = make_event(starts_at=ended - timedelta(hours=8), ends_at=ended)
    people = [
        make_registration(event, name=f"Person Number{i}", email=f"number{i}@example.org", organisation="Secret Org")
        for i in range(5)
    ]
    return event, people, at("2026-03-17T00:00:00+08:00")


def test_a_run_in_batches_resumes_and_a_second_run_does_nothing(run, sessions, past, settings):  # type: ignore[no-untyped-def]
    event, _, now = past
    # A run stopped after its first batch of two: what it did is committed, the rest waits.
    first = run(run_batch, Run(), now, DEFAULT, limit=2)
    assert (first.anonymised, first.more, first.run.counts) == (2, True, {event.slug: 2})
    assert run(due_counts, now, DEFAULT)[0].count == 3
    # The next run takes up the rest.
    done = run_retention(sessions, DEFAULT, settings.upload_directory, now=now, limit=2)
    assert done.counts == {event.slug: 3}
    with sessions() as session:
        assert session.scalars(select(Registration.anonymised_at).where(Registration.event_id == event.id)).all() == [now] * 5
    # Idempotent: nothing left, no entry added.
    entries = len(audit_entries(sessions))
    assert run_retention(sessions, DEFAULT, settings.upload_directory, now=now + timedelta(days=1)).total == 0
    assert run(due_counts, now, DEFAULT) == []
    assert len(audit_entries(sessions)) == entries


def test_one_audit_entry_per_event_per_run_with_the_count_and_no_personal_data(run, sessions, past, settings):  # type: ignore[no-untyped-def]
    event, people, now = past
    done = run_retention(sessions, DEFAULT, settings.upload_directory, now=now, limit=2)  # three batches
    assert done.total == 5
    [entry] = audit_entries(sessions)
    assert (entry.event_id, entry.registration_id, entry.actor) == (event.id, None, AuditActor.PORTAL)
    assert entry.after == {"count": 5, "period": "P2Y"}
    text = json.dumps([entry.before, entry.after])
    for person in people:
        assert person.email not in text and "Number" not in text and "Secret" not in text


def test_uploaded_files_are_deleted_after_the_commit(run, sessions, past, settings):  # type: ignore[no-untyped-def]
    event, people, now = past
    stored = uploads.save(settings.upload_directory, b"%PDF-1.4 a CV\n")
    run(lambda session: session.add(Upload(
        stored_name=stored, registration_id=people[0].id, event_id=event.id, question_key="cv",
        filename="cv.pdf", content_type="application/pdf", size=14,
    )))
    path = uploads.path_of(settings.upload_directory, stored)
    assert path.is_file()
    run_retention(sessions, DEFAULT, settings.upload_directory, now=now)
    assert not path.exists()
    with sessions() as session:
        assert session.scalars(select(Upload)).all() == []


def test_choice_answers_stay_for_the_statistics_and_the_rest_goes(run, make_event, make_form, make_registration, registration_of, sessions, settings):  # type: ignore[no-untyped-def]
    ended = at("2024-01-10T17:00:00+08:00")
    event = make_event(starts_at=ended - timedelta(hours=8), ends_at=ended)
    make_form([
        {"key": "track", "type": "choice", "label": "Track", "choices": [{"value": "policy", "label": "Policy"}, {"value": "tech", "label": "Technology"}]},
        {"key": "position", "type": "text", "label": "Position"},
    ], event=event)
    registration = make_registration(event, answers={"track": "tech", "position": "Director of Things"})
    run_retention(sessions, DEFAULT, settings.upload_directory, now=at("2026-06-01T00:00:00+00:00"))
    assert registration_of(registration.id).answers == {"track": "tech"}


def test_an_issued_certificate_still_verifies(run, client, past, sessions, settings):  # type: ignore[no-untyped-def]
    event, people, now = past
    shows = {"name": "Person Number0", "event": event.title, "programme": "", "dates": "Fri 15 Mar 2024", "days_attended": [], "days": 1, "issuer": "RSIS"}
    code = certificates.new_code()
    run(lambda session: session.add(Certificate(code=code, registration_id=people[0].id, event_id=event.id, shows=shows)))
    run_retention(sessions, DEFAULT, settings.upload_directory, now=now)
    assert registration_of_name(sessions, people[0].id) == ANONYMISED_NAME
    page = client.get(f"/certificates/{code}")
    assert page.status_code == 200
    assert "Person Number0" in page.text and event.title in page.text


def registration_of_name(sessions, registration_id: int) -> str:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return session.get_one(Registration, registration_id).name


# An organiser's early anonymisation.


def test_an_event_not_yet_ended_is_refused(run, make_event, make_registration):  # type: ignore[no-untyped-def]
    event = make_event()
    make_registration(event)
    with pytest.raises(InvalidTransition, match="not ended yet"):
        run(retention.anonymise_event, None, event.slug)


def test_an_ended_event_is_anonymised_early_and_audited_by_count(run, sessions, make_event, make_registration):  # type: ignore[no-untyped-def]
    ended = datetime.now(UTC) - timedelta(days=2)
    event = make_event(starts_at=ended - timedelta(hours=2), ends_at=ended)
    make_registration(event, name="Grace Hopper")
    make_registration(event, status=RegistrationStatus.CANCELLED)
    preview = run(retention.event_anonymisation, event.slug, DEFAULT)
    assert (preview.count, preview.anonymised, preview.ended, preview.early) == (2, 0, True, True)
    assert run(retention.anonymise_event, None, event.slug).count == 2
    [entry] = audit_entries(sessions, "event.anonymise")
    assert entry.after == {"count": 2}
    assert run(retention.anonymise_event, None, event.slug).count == 0  # nothing left; no second entry
    assert len(audit_entries(sessions, "event.anonymise")) == 1


# The programme's period in the import file.


def test_the_import_takes_a_programme_retention_and_keeps_it_when_not_mentioned(run, sessions):  # type: ignore[no-untyped-def]
    record = {"code": "tatc", "name": "TATC", "admission": "open", "retention": "p6m"}
    run(import_data, {"programmes": [record]})

    def stored() -> str | None:
        return run(lambda session: session.scalar(select(Programme.retention).where(Programme.code == "tatc")))

    assert stored() == "P6M"
    run(import_data, {"programmes": [{k: v for k, v in record.items() if k != "retention"}]})
    assert stored() == "P6M"
    run(import_data, {"programmes": [{**record, "retention": None}]})
    assert stored() is None


@pytest.mark.parametrize("value", ["24 months", "P", "P0D", 24, "PT5H"])
def test_a_malformed_retention_is_refused_naming_the_record(run, value):  # type: ignore[no-untyped-def]
    with pytest.raises(ImportProblem) as info:
        run(import_data, {"programmes": [{"code": "tatc", "name": "TATC", "admission": "open", "retention": value}]})
    assert "programmes[0] (code 'tatc'): retention" in info.value.message


# The command line.


def test_the_command_line_dry_run_then_run(portal_env, capsys, run, sessions, past):  # type: ignore[no-untyped-def]
    event, _, _ = past  # ended in March 2024: past 24 months whenever the suite runs after March 2026
    assert cli.main(["retention", "run", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"{event.slug}: 5 registrations would be anonymised" in out
    assert "nothing was changed" in out
    assert run(due_counts, None, DEFAULT)[0].count == 5

    assert cli.main(["retention", "run"]) == 0
    out = capsys.readouterr().out
    assert f"{event.slug}: 5 registrations anonymised" in out
    assert "retention: 5 registrations anonymised in 1 event" in out
    [entry] = audit_entries(sessions)
    assert entry.actor == AuditActor.COMMAND_LINE

    assert cli.main(["retention", "run"]) == 0
    assert "retention: 0 registrations anonymised in 0 events" in capsys.readouterr().out


def test_the_demo_shows_a_past_run_anonymised_and_loads_again_unchanged(run, sessions):  # type: ignore[no-untyped-def]
    from portal import demo

    def march_run() -> list[Registration]:
        with sessions() as session:
            return list(session.scalars(
                select(Registration).join(Event, Registration.event_id == Event.id).where(Event.slug == "tatc-2026-03")
            ))

    run(demo.load)  # TATC keeps registrations six months: its March 2026 run is past that
    first = march_run()
    assert len(first) == 24 and all(r.anonymised_at is not None and r.name == ANONYMISED_NAME for r in first)
    _, added = run(demo.load)
    assert added == 0
    assert len(march_run()) == 24


def test_the_form_and_the_manage_page_say_how_long_and_until_when(client, make_programme, make_event, make_registration):  # type: ignore[no-untyped-def]
    programme = make_programme(retention="P6M")
    # Ends at 09:00 on 2 June 2027 in Auckland, still 1 June in UTC: counted from the local day.
    event = make_event(
        programme_id=programme.id, timezone="Pacific/Auckland",
        starts_at=at("2027-06-02T07:00:00+12:00"), ends_at=at("2027-06-02T09:00:00+12:00"),
    )
    form = client.get(f"/events/{event.slug}/register").text
    assert "Your registration is kept for 6 months after the event ends, through 2 December 2027 (Pacific/Auckland time)" in form
    assert "Sensitive answers are encrypted" in form and "download or erase your data" in form
    registration = make_registration(event)
    manage = client.get(f"/registrations/{registration.token}").text
    assert "This registration is kept for 6 months after the event ends, through 2 December 2027 (Pacific/Auckland time)" in manage


def test_portal_worker_anonymises_what_is_due_in_its_housekeeping(past, registration_of, database_url, tmp_path):  # type: ignore[no-untyped-def]
    _, people, _ = past  # ended in March 2024: past 24 months
    done = subprocess.run(
        [sys.executable, "-m", "portal.cli", "worker", "--once"],
        env=command_environment(database_url), cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "retention anonymised 5 registrations in 1 event" in done.stderr
    assert all(registration_of(p.id).anonymised_at is not None for p in people)
