"""The data-access log: every export and reveal of personal data in a period (days in the
site's zone), with who, what, whose and how much; paged; as CSV; for admins only."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from portal import cli
from portal.audit import record
from portal.models import AuditActor, AuditEntry
from portal.models.door import Certificate
from portal.rosters import data_access
from tests.sealed_forms import PASSPORT, sealed_world
from tests.timetables import add_session
from tests.web.backoffice.conftest import post, sign_in

# 01:00 on 1 June in Singapore (the site's zone) is still 31 May in UTC.
EARLY_JUNE = datetime(2026, 5, 31, 17, 0, tzinfo=UTC)


@pytest.fixture
def world(make_event, make_form, make_registration, run):  # type: ignore[no-untyped-def]
    return sealed_world(make_event, make_form, make_registration, run, slug="tatc-2027", title="Tactics course 2027")


def rows_of(page: str) -> list[str]:
    body = page.split('<table class="striped data-access">', 1)[1].split("</table>", 1)[0]
    return body.split("<tbody>", 1)[1].split("<tr>")[1:]


def test_the_log_lists_an_export_and_a_reveal_with_their_sizes(admin_client, admin, world):
    export = admin_client.get("/admin/events/tatc-2027/export.csv?include=passport")
    post(admin_client, f"/admin/registrations/{world.aisha.id}/reveal", {"question": "passport"})
    page = admin_client.get("/admin/data-access")
    assert page.status_code == 200
    assert "2 entries" in page.text and "Times in Asia/Singapore" in page.text
    reveal, exported = rows_of(page.text)  # newest first
    assert "Revealed a sensitive answer" in reveal and "passport" in reveal
    assert f'href="http://testserver/admin/registrations/{world.aisha.id}">Aisha Rahman</a>' in reveal
    assert f"<td>{len(PASSPORT)}</td>" in reveal
    assert "Exported the roster (CSV)" in exported and "Tactics course 2027" in exported
    assert "<td>2</td>" in exported and f"<td>{len(export.content):,}</td>" in exported
    assert (admin.name or admin.email) in exported
    assert PASSPORT not in page.text


def test_the_period_is_days_in_the_sites_zone(admin_client, world, run):
    run(record, None, data_access.EXPORT_BADGES, event_id=world.event.id, after={"format": "pdf", "rows": 1, "bytes": 900}, now=EARLY_JUNE)
    june = admin_client.get("/admin/data-access?from=2026-06-01&to=2026-06-01")
    assert "1 entry from 1 Jun 2026 to 1 Jun 2026" in june.text
    assert "Downloaded name badges" in june.text and "1 Jun 2026, 01:00:00" in june.text
    may = admin_client.get("/admin/data-access?from=2026-05-01&to=2026-05-31")
    assert "0 entries" in may.text and "Nothing was exported or revealed" in may.text
    # By default the last 30 days: not this one, long past.
    assert "Downloaded name badges" not in admin_client.get("/admin/data-access").text


def test_bad_periods_are_refused_clearly(admin_client):
    assert admin_client.get("/admin/data-access?from=yesterday").status_code == 400
    backwards = admin_client.get("/admin/data-access?from=2026-12-02&to=2026-12-01")
    assert backwards.status_code == 400 and "must not be after" in backwards.text


def test_the_log_pages(run, world, sessions):
    for n in range(3):
        run(record, None, data_access.EXPORT_ROSTER, event_id=world.event.id, after={"format": "csv", "rows": n, "bytes": 10}, now=EARLY_JUNE)
    period = data_access.period("Asia/Singapore", EARLY_JUNE.date(), None, today=datetime(2026, 6, 5).date())
    with sessions() as session:
        first = data_access.access_log(session, period, per_page=2)
        second = data_access.access_log(session, period, page=2, per_page=2)
    assert (first.total, first.pages, len(first.entries), len(second.entries)) == (3, 2, 2, 1)
    assert {e.rows for e in first.entries + second.entries} == {0, 1, 2}


def test_the_log_as_csv(admin_client, world, run):
    run(record, None, data_access.REVEAL, event_id=world.event.id, registration_id=world.aisha.id, after={"question": "diet", "bytes": 26}, now=EARLY_JUNE)
    response = admin_client.get("/admin/data-access.csv?from=2026-06-01&to=2026-06-01")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="data-access-2026-06-01-to-2026-06-01.csv"' in response.headers["content-disposition"]
    header, row = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
    assert header[0] == "When (Asia/Singapore)"
    assert row[:8] == ["2026-06-01 01:00:00", "command line", "Revealed a sensitive answer", "tatc-2027", str(world.aisha.id), "Aisha Rahman", "", "26"]
    assert row[8] == "diet"


def test_only_admins_see_the_log(client, organiser):
    sign_in(client, organiser.email)
    assert client.get("/admin/data-access").status_code == 403
    assert client.get("/admin/data-access.csv").status_code == 403


def recorded(sessions, action: str) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def test_every_export_of_personal_data_is_recorded_with_its_size(organiser_client, organiser, world, run, sessions, portal_env):
    event = world.event
    add_session(run, event, "opening", event.starts_at, event.ends_at, check_in=True)
    listed = organiser_client.get("/admin/events/tatc-2027/sessions/opening/export.csv")
    assert listed.status_code == 200
    [entry] = recorded(sessions, data_access.EXPORT_SESSION)
    assert (entry.organiser_id, entry.event_id) == (organiser.id, event.id)
    assert entry.after == {"format": "csv", "event_session": "opening", "rows": 2, "bytes": len(listed.content)}

    badges = organiser_client.get("/admin/events/tatc-2027/badges.pdf")
    assert badges.status_code == 200
    [entry] = recorded(sessions, data_access.EXPORT_BADGES)
    assert entry.after == {"format": "pdf", "layout": "a4", "rows": 2, "bytes": len(badges.content)}

    shows = {"name": "Aisha Rahman", "event": event.title, "programme": "", "dates": "Mon 8 Mar 2027", "days_attended": [], "days": 1, "issuer": "RSIS"}
    certificate = run(lambda session: (c := Certificate(code="DATA7ACCESS1", registration_id=world.aisha.id, event_id=event.id, shows=shows),
                                       session.add(c), session.flush())[0])
    pdf = organiser_client.get(f"/admin/certificates/{certificate.id}.pdf")
    assert pdf.status_code == 200
    [entry] = recorded(sessions, data_access.EXPORT_CERTIFICATE)
    assert entry.registration_id == world.aisha.id
    assert entry.after == {"format": "pdf", "rows": 1, "bytes": len(pdf.content)}

    assert cli.main(["export", "certificates", "tatc-2027", "-o", "out"]) == 0
    [entry] = recorded(sessions, data_access.EXPORT_CERTIFICATES)
    assert entry.actor == AuditActor.COMMAND_LINE and entry.organiser_id is None
    assert entry.after == {"format": "pdf", "rows": 1, "bytes": sum(f.stat().st_size for f in (portal_env / "out").iterdir())}
