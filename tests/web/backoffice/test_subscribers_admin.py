"""Subscribers in the back office: counts per programme, category and frequency, the
searchable list, the CSV export (formulas neutralised), removal (audited without the
address), and who may see them."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.db import utcnow
from portal.models import AuditEntry, Frequency, Subscriber
from portal.subscriptions import admin
from portal.web.backoffice import outbox, subscribers
from tests.web.backoffice.conftest import post, sign_in

_tokens = itertools.count(1)


@pytest.fixture
def subscribe(run):  # type: ignore[no-untyped-def]
    """subscribe(email, programmes=[], categories=[], frequency=EACH, confirmed=True) -> id"""

    def _add(email: str, programmes=(), categories=(), frequency=Frequency.EACH, confirmed=True, ago=timedelta(0)):  # type: ignore[no-untyped-def]
        now = utcnow() - ago

        def _write(session):  # type: ignore[no-untyped-def]
            row = Subscriber(
                email=email, token=f"token-{next(_tokens)}-{email}"[:64], frequency=frequency, programmes=list(programmes),
                categories=list(categories), confirmed_at=now if confirmed else None, created_at=now, updated_at=now,
            )
            session.add(row)
            session.flush()
            return row.id

        return run(_write)

    return _add


@pytest.fixture
def several(subscribe, make_programme):  # type: ignore[no-untyped-def]
    make_programme(code="tatc", name="Terrorism Analyst Training Course")
    make_programme(code="iccs", name="International Conference on Cohesive Societies")
    make_programme(code="appsmo", name="Asia-Pacific Programme for Senior Military Officers")
    return {
        "all": subscribe("ana@example.org"),
        "tatc": subscribe("ben@example.org", programmes=["tatc"], categories=["course"], frequency=Frequency.WEEKLY),
        "both": subscribe("cho@example.org", programmes=["tatc", "iccs"], categories=["course", "conference"]),
        "old": subscribe("dev@example.org", programmes=["gone"]),
        "pending": subscribe("eve@example.org", programmes=["tatc"], confirmed=False),
    }


def test_counts_per_programme_category_and_frequency(run, several):
    counts = run(admin.subscriber_counts)
    assert (counts.confirmed, counts.pending) == (4, 1)
    assert counts.all_programmes == 1 and counts.all_categories == 2  # [] counts under "all"
    by_programme = {t.key: (t.name, t.count) for t in counts.programmes}
    assert by_programme == {
        "tatc": ("Terrorism Analyst Training Course", 2),  # the pending one is not counted
        "iccs": ("International Conference on Cohesive Societies", 1),
        "appsmo": ("Asia-Pacific Programme for Senior Military Officers", 0),
        "gone": ("gone", 1),  # a programme since removed still shows what was asked for
    }
    assert {t.key: t.count for t in counts.categories} == {"course": 2, "conference": 1}
    assert counts.frequencies == {"each": 3, "weekly": 1}


def test_the_page_shows_the_counts_and_the_list(organiser_client, several):
    page = organiser_client.get("/admin/subscribers")
    assert page.status_code == 200
    text = page.text
    assert "<dt>Confirmed</dt><dd>4</dd>" in text and "<dt>Awaiting confirmation</dt><dd>1</dd>" in text
    assert "<dt>Weekly digest</dt><dd>1</dd>" in text
    assert '<tr><th scope="row">Every programme</th><td>1</td></tr>' in text
    assert '<tr><th scope="row">Terrorism Analyst Training Course <small>(<code>tatc</code>)</small></th><td>2</td></tr>' in text
    for email in ("ana@", "ben@", "cho@", "dev@", "eve@"):
        assert email in text
    assert "Awaiting confirmation</span>" in text and "Weekly digest</td>" in text
    assert "Terrorism Analyst Training Course; International Conference on Cohesive Societies" in text
    assert 'href="http://testserver/admin/subscribers"' in organiser_client.get("/admin/").text  # in the menu


def test_search_by_part_of_the_address(organiser_client, subscribe):
    subscribe("someone@ministry.gov.sg")
    subscribe("other@example.org")
    subscribe("a_b@example.org")
    found = organiser_client.get("/admin/subscribers", params={"q": "MINISTRY"}).text
    assert "someone@ministry.gov.sg" in found and "other@example.org" not in found
    assert "1 subscriber with" in found
    # LIKE's wildcards are matched as typed: "_" is no "any character".
    underscore = organiser_client.get("/admin/subscribers", params={"q": "a_b"}).text
    assert "a_b@example.org" in underscore and "other@example.org" not in underscore
    assert "someone@" not in organiser_client.get("/admin/subscribers", params={"q": "s_m"}).text


def test_the_list_is_paged(organiser_client, run):
    def many(session):  # type: ignore[no-untyped-def]
        now = utcnow()
        session.add_all(
            Subscriber(email=f"p{n:03d}@example.org", token=f"paged-{n}", programmes=[], categories=[], confirmed_at=now,
                       created_at=now - timedelta(minutes=n))
            for n in range(55)
        )

    run(many)
    first = organiser_client.get("/admin/subscribers").text
    assert "p000@example.org" in first and "p049@example.org" in first and "p050@example.org" not in first
    assert "Page 1 of 2" in first
    second = organiser_client.get("/admin/subscribers", params={"page": "2"}).text
    assert "p054@example.org" in second and "p000@example.org" not in second


def read_csv(response):  # type: ignore[no-untyped-def]
    assert response.content.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_csv_export(organiser_client, several, subscribe):
    subscribe("=HYPERLINK(1)@example.org", categories=["+sum"])
    response = organiser_client.get("/admin/subscribers/export.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith('attachment; filename="subscribers-')
    rows = read_csv(response)
    assert rows[0] == ["ID", "Email", "Status", "Frequency", "Programmes", "Categories",
                       "Subscribed (Asia/Singapore)", "Confirmed (Asia/Singapore)"]
    by_email = {row[1]: row for row in rows[1:]}
    assert len(by_email) == 6
    assert by_email["cho@example.org"][2:6] == ["confirmed", "each", "tatc; iccs", "course; conference"]
    assert by_email["ana@example.org"][4:6] == ["all", "all"]
    assert by_email["eve@example.org"][2] == "awaiting confirmation" and by_email["eve@example.org"][7] == ""
    assert by_email["ben@example.org"][3] == "weekly"
    # A spreadsheet would run these as formulas: they get an apostrophe, as the roster's do.
    assert "'=HYPERLINK(1)@example.org" in by_email and by_email["'=HYPERLINK(1)@example.org"][5] == "'+sum"



def test_the_export_is_recorded_in_the_data_access_log_with_its_rows_and_bytes(client, admin, several, sessions):
    assert sign_in(client, admin.email).status_code == 303
    response = client.get("/admin/subscribers/export.csv")
    assert response.status_code == 200
    with sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "export.subscribers")).one()
    assert entry.organiser_id == admin.id and entry.event_id is None
    assert entry.after == {"format": "csv", "rows": 5, "bytes": len(response.content)}
    # Who and how much; never an address.
    assert "example.org" not in json.dumps(entry.after)
    page = client.get("/admin/data-access")
    assert "1 entry" in page.text
    row = page.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert "Exported the subscribers (CSV)" in row and "<td>5</td>" in row and f"<td>{len(response.content):,}</td>" in row
    assert "ana@example.org" not in page.text

def test_remove_with_a_confirmation_audited_without_the_address(organiser_client, several, sessions):
    target = several["tatc"]
    path = f"/admin/subscribers/{target}/remove"
    asked = post(organiser_client, path, token_from="/admin/subscribers")
    assert asked.status_code == 200 and "Remove ben@example.org?" in asked.text
    with sessions() as session:
        assert session.get(Subscriber, target) is not None  # only asked so far
    done = post(organiser_client, path, {"confirmed": "yes"}, token_from="/admin/subscribers")
    assert done.status_code == 303 and done.headers["location"] == "http://testserver/admin/subscribers"
    after = organiser_client.get("/admin/subscribers").text
    assert "The subscriber is removed" in after and "ben@example.org" not in after
    with sessions() as session:
        assert session.get(Subscriber, target) is None
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "subscriber.remove"))
        assert entry.before["subscriber"] == target and entry.organiser_id is not None
        assert "@" not in json.dumps([entry.before, entry.after])
    again = post(organiser_client, path, {"confirmed": "yes"}, token_from="/admin/subscribers")
    assert again.status_code == 404


def test_the_confirmation_page_opens_and_reloads_with_a_get_that_changes_nothing(organiser_client, several, sessions):
    target = several["tatc"]
    path = f"/admin/subscribers/{target}/remove"
    # The list links to it: a GET, so reloading it (or opening it in a new tab) works.
    listed = organiser_client.get("/admin/subscribers").text
    assert f'<a href="http://testserver{path}" role="button" class="danger outline compact" aria-label="Remove ben@example.org">Remove</a>' in listed
    assert f'<form method="post" action="http://testserver{path}"' not in listed
    for _ in range(2):
        asked = organiser_client.get(path)
        assert asked.status_code == 200 and "Remove ben@example.org?" in asked.text
        assert f'<form method="post" action="http://testserver{path}">' in asked.text and 'name="confirmed" value="yes"' in asked.text
    with sessions() as session:
        assert session.get(Subscriber, target) is not None
        assert session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "subscriber.remove")) == 0
    # Removed by the page's button: the page then says it is gone.
    assert post(organiser_client, path, {"confirmed": "yes"}, token_from=path).status_code == 303
    assert organiser_client.get(path).status_code == 404
    assert organiser_client.get("/admin/subscribers/999999/remove").status_code == 404


def test_on_a_phone_each_subscriber_is_a_card(organiser_client, several):
    text = organiser_client.get("/admin/subscribers").text
    (table,) = re.findall(r'<table class="striped cards-on-phone subscriber-list">.*?</table>', text, re.DOTALL)
    for label in ("Status", "How often", "Programmes", "Categories", "Since"):
        assert table.count(f'<td data-label="{label}"') == 5
    # The stylesheet lays such a table out as cards below 640 px: no sideways scrolling.
    css = organiser_client.get("/static/css/portal.css").text
    assert ".cards-on-phone, .cards-on-phone tbody, .cards-on-phone tr, .cards-on-phone th, .cards-on-phone td { display: block;" in css


def test_removal_needs_the_csrf_token(organiser_client, several, sessions):
    organiser_client.get("/admin/subscribers")
    response = organiser_client.post(f"/admin/subscribers/{several['all']}/remove", data={"confirmed": "yes"})
    assert response.status_code == 403
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 5
        assert session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "subscriber.remove")) == 0


def test_every_organiser_may_see_them_and_nobody_signed_out(client, make_organiser, several):
    # As the outbox: any signed-in organiser, not only admins.
    for path in ("/admin/subscribers", "/admin/subscribers/export.csv"):
        refused = client.get(path)
        assert refused.status_code == 303 and refused.headers["location"].startswith("http://testserver/admin/sign-in")
    for handler in (subscribers.list_subscribers, subscribers.export_subscribers, subscribers.remove_subscriber):
        assert handler.access == outbox.list_outbox.access == "organiser"
    organiser = make_organiser("plain@example.org")
    assert sign_in(client, organiser.email).status_code == 303
    assert "ana@example.org" in client.get("/admin/subscribers").text
    assert b"ana@example.org" in client.get("/admin/subscribers/export.csv").content
