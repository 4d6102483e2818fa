"""Certificates in the back office: the event's certificates page, issuing to everyone after a
confirmation (or to one person), reissuing with a corrected name, revoking with a reason,
the PDFs, who may do it, and `portal export certificates`."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal import cli
from portal.models import AuditEntry, Certificate
from portal.registrations import certificates
from portal.registrations.certificates import display_code
from tests.conftest import csrf_from
from tests.registrations.test_certificates import ISSUER, NOBODY, attend, course, pdf_text  # noqa: F401  (fixtures)
from tests.web.backoffice.conftest import post


@pytest.fixture
def ended(course, make_registration, attend):  # type: ignore[no-untyped-def]  # noqa: F811
    """An event over: Ada and Chen came every day, Bob one day of five."""
    event = course()
    people = {
        "ada": make_registration(event, name="Ada Lovelace", email="ada@example.org"),
        "chen": make_registration(event, name="陈美玲", email="chen@example.org"),
        "bob": make_registration(event, name="Bob", email="bob@example.org"),
    }
    attend(event, people["ada"], 0, 1, 2, 3, 4)
    attend(event, people["chen"], 0, 1, 2, 3, 4)
    attend(event, people["bob"], 0)
    return event, people


def held(sessions, event):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(session.scalars(select(Certificate).where(Certificate.event_id == event.id).order_by(Certificate.id)))


def test_issuing_to_everyone_asks_for_a_confirmation_with_the_count(organiser_client, sessions, ended):
    event, people = ended
    page = organiser_client.get(f"/admin/events/{event.slug}/certificates")
    assert page.status_code == 200
    assert "Earned, not yet issued (2)" in page.text and "Issue 2 certificates…" in page.text
    assert "Ada Lovelace" in page.text and "陈美玲" in page.text and ">Bob<" not in page.text
    url = f"/admin/events/{event.slug}/certificates"
    confirm = organiser_client.post(url, data={"csrf_token": csrf_from(page.text)})
    assert confirm.status_code == 200 and "Issue 2 certificates?" in confirm.text
    assert "Ada Lovelace" in confirm.text and 'name="confirm" value="2"' in confirm.text
    assert held(sessions, event) == []
    done = organiser_client.post(url, data={"csrf_token": csrf_from(confirm.text), "confirm": "2"})
    assert done.status_code == 303 and done.headers["location"] == f"http://testserver{url}"
    after = organiser_client.get(url)
    assert "Issued 2 certificates." in after.text and "Issued (2 valid)" in after.text
    codes = [c.code for c in held(sessions, event)]
    assert {c.shows["issuer"] for c in held(sessions, event)} == {"RSIS Events"}  # PORTAL_ISSUER's default
    assert sorted(c.registration_id for c in held(sessions, event)) == sorted([people["ada"].id, people["chen"].id])
    for code in codes:
        assert display_code(code) in after.text
    # Sent again (a second tab, a double click): nothing more is issued.
    again = organiser_client.post(url, data={"csrf_token": csrf_from(after.text), "confirm": "2"})
    assert again.status_code == 409 and "is now 0" in again.text
    assert len(held(sessions, event)) == 2


def test_a_confirmation_for_another_count_is_asked_again(organiser_client, sessions, ended, make_registration, attend):  # noqa: F811
    event, _ = ended
    url = f"/admin/events/{event.slug}/certificates"
    confirm = post(organiser_client, url)
    assert "Issue 2 certificates?" in confirm.text
    late = make_registration(event, name="Late Scan")
    attend(event, late, 0, 1, 2, 3, 4)
    changed = organiser_client.post(url, data={"csrf_token": csrf_from(confirm.text), "confirm": "2"})
    assert changed.status_code == 409
    assert "is now 3" in changed.text and "Issue 3 certificates?" in changed.text and "Late Scan" in changed.text
    assert held(sessions, event) == []


def test_issuing_to_one_person(organiser_client, sessions, ended):
    event, people = ended
    done = post(organiser_client, f"/admin/events/{event.slug}/certificates", {"id": people["chen"].id})
    assert done.status_code == 303
    assert [c.registration_id for c in held(sessions, event)] == [people["chen"].id]
    # Bob has not earned one: choosing him issues nothing.
    post(organiser_client, f"/admin/events/{event.slug}/certificates", {"id": people["bob"].id})
    assert "No certificate was issued" in organiser_client.get(f"/admin/events/{event.slug}/certificates").text
    assert len(held(sessions, event)) == 1


def test_before_the_last_day_nothing_is_issued(organiser_client, sessions, make_event, make_registration, attend):  # noqa: F811
    future = make_event()  # in 30 days
    attend(future, make_registration(future, name="Early Bird"), 0)
    page = organiser_client.get(f"/admin/events/{future.slug}/certificates")
    assert "Certificates can be issued from the start of the event's last day" in page.text
    assert "Issue 1 certificate" not in page.text and "Early Bird" in page.text
    refused = post(organiser_client, f"/admin/events/{future.slug}/certificates", {"confirm": "1"})
    assert refused.status_code == 303
    assert "once attendance is known" in organiser_client.get(refused.headers["location"]).text
    assert held(sessions, future) == []


def test_reissue_with_a_corrected_name(run, organiser_client, client, sessions, ended):
    event, people = ended
    [old] = run(certificates.issue, NOBODY, event.slug, [people["ada"].id], issuer=ISSUER)
    page = organiser_client.get(f"/admin/certificates/{old.id}")
    assert page.status_code == 200 and 'value="Ada Lovelace"' in page.text and display_code(old.code) in page.text
    too_long = organiser_client.post(f"/admin/certificates/{old.id}/reissue", data={"csrf_token": csrf_from(page.text), "name": "A" * 201})
    assert too_long.status_code == 422 and "at most 200 characters" in too_long.text and 'value="' + "A" * 201 + '"' in too_long.text
    empty = organiser_client.post(f"/admin/certificates/{old.id}/reissue", data={"csrf_token": csrf_from(page.text), "name": "  "})
    assert empty.status_code == 422 and "Write the name as it should appear." in empty.text
    done = organiser_client.post(f"/admin/certificates/{old.id}/reissue", data={"csrf_token": csrf_from(page.text), "name": "Augusta Ada King"})
    assert done.status_code == 303
    old_row, new_row = held(sessions, event)
    assert done.headers["location"] == f"http://testserver/admin/certificates/{new_row.id}"
    assert new_row.shows["name"] == "Augusta Ada King" and new_row.code != old.code
    assert old_row.revoked_at is not None and old_row.replaced_by == new_row.id and old_row.shows["name"] == "Ada Lovelace"
    shown = organiser_client.get(done.headers["location"])
    assert f"Reissued with the new code {display_code(new_row.code)}" in shown.text
    assert "Revoked" not in client.get(f"/certificates/{new_row.code}").text
    assert "Not valid." in client.get(f"/certificates/{old.code}").text
    # The old one can be neither reissued again nor downloaded.
    assert "Reissue the certificate" not in organiser_client.get(f"/admin/certificates/{old.id}").text
    again = post(organiser_client, f"/admin/certificates/{old.id}/reissue", {"name": "Someone"})
    assert again.status_code == 303 and len(held(sessions, event)) == 2
    assert organiser_client.get(f"/admin/certificates/{old.id}.pdf").status_code == 409


def test_revoke_with_a_reason(run, organiser_client, client, sessions, ended):
    event, people = ended
    [certificate] = run(certificates.issue, NOBODY, event.slug, [people["ada"].id], issuer=ISSUER)
    url = f"/admin/certificates/{certificate.id}"
    empty = post(organiser_client, f"{url}/revoke", {"reason": ""}, token_from=url)
    assert empty.status_code == 422 and "Say why it is revoked." in empty.text
    assert held(sessions, event)[0].revoked_at is None
    done = post(organiser_client, f"{url}/revoke", {"reason": "Issued to the wrong person"}, token_from=url)
    assert done.status_code == 303
    page = organiser_client.get(url)
    assert "Revoked. Its public page now says that it is not valid." in page.text and "Issued to the wrong person" in page.text
    public = client.get(f"/certificates/{certificate.code}")
    assert "Not valid." in public.text and "wrong person" not in public.text
    listing = organiser_client.get(f"/admin/events/{event.slug}/certificates")
    assert "Earned, but their certificate was revoked (1)" in listing.text


def test_the_organisers_download_a_certificate(run, organiser_client, ended):
    event, people = ended
    [certificate] = run(certificates.issue, NOBODY, event.slug, [people["chen"].id], issuer=ISSUER)
    response = organiser_client.get(f"/admin/certificates/{certificate.id}.pdf")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-disposition"] == f'attachment; filename="certificate-{certificate.code}.pdf"'
    text = pdf_text(response.content)
    assert "陈美玲" in text
    assert organiser_client.get("/admin/certificates/999999999.pdf").status_code == 404


def test_signed_out_visitors_and_participants_cannot_use_them(run, client, sessions, ended):
    event, people = ended
    [certificate] = run(certificates.issue, NOBODY, event.slug, [people["ada"].id], issuer=ISSUER)
    # A participant holds a manage link, not a back-office session.
    assert client.get(f"/registrations/{people['ada'].token}").status_code == 200
    for path in (f"/admin/events/{event.slug}/certificates", f"/admin/certificates/{certificate.id}", f"/admin/certificates/{certificate.id}.pdf"):
        response = client.get(path)
        assert response.status_code == 303 and "/admin/sign-in" in response.headers["location"], path
    with sessions() as session:
        entries = session.scalar(select(func.count()).select_from(AuditEntry))
    csrf = csrf_from(client.get("/admin/sign-in").text)
    for path, data in (
        (f"/admin/events/{event.slug}/certificates", {"confirm": "1"}),
        (f"/admin/certificates/{certificate.id}/revoke", {"reason": "x"}),
        (f"/admin/certificates/{certificate.id}/reissue", {"name": "x"}),
    ):
        response = client.post(path, data={"csrf_token": csrf, **data})
        # The sign-in page itself (401), holding what was sent until someone signs in.
        assert response.status_code == 401 and "Organisers: sign in" in response.text, path
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == entries
    assert [c.revoked_at for c in held(sessions, event)] == [None]


def test_the_command_line_writes_every_valid_certificate(run, ended, portal_env, capsys):
    event, people = ended
    issued = {c.registration_id: c for c in run(certificates.issue, NOBODY, event.slug, None, issuer=ISSUER)}
    run(certificates.revoke, NOBODY, issued[people["chen"].id].id, "error")
    assert cli.main(["export", "certificates", event.slug, "-o", "out"]) == 0
    ada = issued[people["ada"].id]
    files = sorted(p.name for p in (portal_env / "out").iterdir())
    assert files == [f"certificate-{ada.code}-ada-lovelace.pdf"]
    assert "Ada Lovelace" in pdf_text((portal_env / "out" / files[0]).read_bytes())
    assert "wrote 1 certificate" in capsys.readouterr().err
    assert cli.main(["export", "certificates", event.slug]) == 0
    assert (portal_env / f"certificates-{event.slug}" / files[0]).is_file()
    assert cli.main(["export", "certificates", "no-such-event", "-o", "x"]) == 2
