"""The door's scanner over HTTP: a typed code without JavaScript, a scan and a sync as JSON
(the CSRF token in a header), the ticket list the page holds offline, the service worker, and
the camera allowed on the door page alone."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import func, select

from portal.db import utcnow
from portal.models import CheckIn
from portal.models import RegistrationStatus as S
from tests.conftest import running_today
from tests.web.backoffice.conftest import token

CODE = "7K3QX2M49D"
HOSTILE = '<script>alert("door")</script> & Ölçek'


@pytest.fixture
def today(make_event):  # type: ignore[no-untyped-def]
    """An event on now, within one day in its zone (Singapore) whatever the hour the suite runs."""
    starts, ends = running_today()
    return make_event(title="Door Day", starts_at=starts, ends_at=ends)


@pytest.fixture
def holder(today, make_registration):  # type: ignore[no-untyped-def]
    return make_registration(today, name=HOSTILE, organisation="Ministry <b>of</b> Defence", checkin_code=CODE)


def door_url(event, what: str) -> str:  # type: ignore[no-untyped-def]
    return f"/admin/events/{event.slug}/door/{what}"


def check_ins(sessions) -> int:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(CheckIn)) or 0


def send_json(client, url: str, body: object, csrf: str | None):  # type: ignore[no-untyped-def]
    headers = {"Content-Type": "application/json"}
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    return client.post(url, content=json.dumps(body), headers=headers)


def test_a_typed_code_without_javascript_answers_in_large_type_with_the_name_as_text(organiser_client, sessions, today, holder):
    page = organiser_client.get(f"/admin/events/{today.slug}/check-in")
    scan_id = re.search(r'name="scan_id" value="([0-9a-f]+)"', page.text).group(1)  # type: ignore[union-attr]
    form = {"csrf_token": token(organiser_client, f"/admin/events/{today.slug}/check-in"), "code": "7k3qx-2m49d", "scan_id": scan_id}
    response = organiser_client.post(door_url(today, "scan"), data=form)
    assert response.status_code == 200
    assert 'class="door-result door-admitted"' in response.text and "Checked in" in response.text
    assert "<script>alert" not in response.text and "&lt;script&gt;alert(&#34;door&#34;)&lt;/script&gt; &amp; Ölçek" in response.text
    assert "Ministry &lt;b&gt;of&lt;/b&gt; Defence" in response.text
    # The same form sent again (a reload): counted once; a new scan the same day: already in.
    assert organiser_client.post(door_url(today, "scan"), data=form).status_code == 200
    assert check_ins(sessions) == 1
    again = organiser_client.post(door_url(today, "scan"), data={**form, "scan_id": "another-scan-id"})
    assert 'door-result door-already' in again.text and "Already checked in" in again.text
    assert check_ins(sessions) == 1


def test_a_typed_code_that_is_no_ticket_is_refused_in_red_and_an_empty_one_is_asked_for(organiser_client, sessions, today, holder):
    csrf = token(organiser_client, f"/admin/events/{today.slug}/check-in")
    refused = organiser_client.post(door_url(today, "scan"), data={"csrf_token": csrf, "code": "ZZZZZ-ZZZZZ"})
    assert refused.status_code == 200 and "door-result door-refused" in refused.text and "Unknown code" in refused.text
    empty = organiser_client.post(door_url(today, "scan"), data={"csrf_token": csrf, "code": "  "})
    assert empty.status_code == 422 and "Type the code printed under the ticket" in empty.text
    long = "X" * 201
    too_long = organiser_client.post(door_url(today, "scan"), data={"csrf_token": csrf, "code": long})
    assert too_long.status_code == 422 and f'value="{long}"' in too_long.text
    assert check_ins(sessions) == 0


def test_a_scan_as_json_needs_the_token_in_its_header(organiser_client, sessions, today, holder):
    scan = {"scan_id": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "code": "PTK1:" + CODE, "at": utcnow().isoformat(), "door": "Door A"}
    csrf = token(organiser_client, f"/admin/events/{today.slug}/check-in")
    for wrong in (None, "forged", ""):
        refused = send_json(organiser_client, door_url(today, "scan"), scan, wrong)
        assert refused.status_code == 403 and "security cookie" in refused.text
    assert check_ins(sessions) == 0
    response = send_json(organiser_client, door_url(today, "scan"), scan, csrf)
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    body = response.json()
    assert (body["outcome"], body["tone"], body["name"], body["code"], body["recorded"]) == ("admitted", "admitted", HOSTILE, "7K3QX-2M49D", True)
    with sessions() as session:
        assert session.scalars(select(CheckIn.door)).one() == "Door A"
    # A token in the body does not count for JSON, and a form body is not JSON.
    assert send_json(organiser_client, door_url(today, "sync"), {"scans": [], "csrf_token": csrf}, None).status_code == 403
    not_json = organiser_client.post(door_url(today, "sync"), data={"scans": "x"}, headers={"X-CSRF-Token": csrf})
    assert not_json.status_code == 415
    broken = organiser_client.post(door_url(today, "sync"), content=b"{not json", headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"})
    assert broken.status_code == 400


def test_a_sync_answers_each_scan_once_however_often_it_is_sent(organiser_client, sessions, today, holder, make_registration):
    make_registration(today, name="Farah Ibrahim", status=S.CANCELLED, checkin_code="ABCDE12345")
    now = utcnow()
    scans = [
        {"scan_id": "door-b-0000001", "code": CODE, "at": (now - timedelta(minutes=5)).isoformat(), "door": "Door B"},
        {"scan_id": "door-b-0000002", "code": "ABCDE-12345", "at": now.isoformat(), "door": "Door B"},
        {"scan_id": "bad id!", "code": CODE},
        {"scan_id": "door-b-0000003", "code": "ZZZZZZZZZZ", "at": "yesterday", "door": "Door B"},
    ]
    csrf = token(organiser_client, f"/admin/events/{today.slug}/check-in")
    first = send_json(organiser_client, door_url(today, "sync"), {"scans": scans}, csrf)
    assert first.status_code == 200
    outcomes = [(r["scan_id"], r["outcome"]) for r in first.json()["results"]]
    assert outcomes == [("door-b-0000001", "admitted"), ("door-b-0000002", "not_confirmed"), (None, "invalid"), ("door-b-0000003", "unknown")]
    second = send_json(organiser_client, door_url(today, "sync"), scans, csrf)  # the bare list works too
    assert [r["outcome"] for r in second.json()["results"]] == [o for _, o in outcomes]
    assert second.json()["results"][0]["resent"] is True
    assert check_ins(sessions) == 1
    assert send_json(organiser_client, door_url(today, "sync"), {"scans": "all"}, csrf).status_code == 400
    assert send_json(organiser_client, door_url(today, "sync"), {"scans": [{}] * 501}, csrf).status_code == 400


def test_the_ticket_list_holds_what_the_door_shows_and_is_never_kept(organiser_client, today, holder, make_registration):
    make_registration(today, name="Waiting Wanda", email="wanda@example.org", status=S.WAITLISTED, checkin_code="ABCDE12345")
    response = organiser_client.get(door_url(today, "tickets.json"))
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["event"]["slug"] == today.slug and body["event"]["timezone"] == "Asia/Singapore" and len(body["event"]["days"]) >= 1
    assert body["csrf_token"]
    assert sorted((t["code"], t["status"]) for t in body["tickets"]) == [("7K3QX2M49D", "confirmed"), ("ABCDE12345", "waitlisted")]
    assert set(body["tickets"][0]) == {"code", "name", "organisation", "status", "days"}
    assert "@example.org" not in response.text


def test_the_door_page_may_use_the_camera_and_no_other_page_may(organiser_client, today, holder):
    door = organiser_client.get(f"/admin/events/{today.slug}/check-in")
    assert door.headers["permissions-policy"] == "camera=(self), microphone=(), geolocation=()"
    assert 'id="door-scanner"' in door.text and 'action="http://testserver' + door_url(today, "scan") + '"' in door.text
    scanner = re.search(r'<section id="door-scanner"[^>]*>', door.text).group(0)  # type: ignore[union-attr]
    assert f'data-csrf="{token(organiser_client, f"/admin/events/{today.slug}/check-in")}"' in scanner
    assert unescape(re.search(r'data-worker-url="([^"]+)"', scanner).group(1)) == "/admin/door-sw.js"  # type: ignore[union-attr]
    for path in ("/admin/", f"/admin/events/{today.slug}", "/"):
        assert "camera=()" in organiser_client.get(path).headers["permissions-policy"], path


def test_the_service_worker_is_served_under_admin_for_the_door_pages(organiser_client, client):
    response = organiser_client.get("/admin/door-sw.js")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/javascript")
    assert "addEventListener(\"fetch\"" in response.text


def test_the_registration_page_lists_every_check_in_with_its_door(organiser_client, today, holder, run, organiser):
    from portal.registrations import scans
    from portal.registrations.scans import DoorScan

    now = utcnow()
    run(scans.sync, organiser, today.slug, [
        DoorScan("door-b-0000001", CODE, now - timedelta(minutes=1), "Door B"),
        DoorScan("door-a-0000001", CODE, now - timedelta(minutes=3), "Door A"),
    ])
    page = organiser_client.get(f"/admin/registrations/{holder.id}")
    assert page.status_code == 200
    section = page.text[page.text.index('id="door-check-ins"'):]
    assert section.index("Door A") < section.index("Door B")
    assert "the check-in" in section and "again" in section


def test_damaged_scans_are_refused_one_by_one_never_a_server_error(organiser_client, sessions, today, holder):
    csrf = token(organiser_client, f"/admin/events/{today.slug}/check-in")
    scans = [
        # "$" in a pattern matches before a final newline: such an id is not the same scan.
        {"scan_id": "door-c-0000001\n", "code": CODE},
        {"scan_id": "d" * 64 + "\n", "code": CODE},
        # Times a datetime can hold but not convert, or centuries away.
        {"scan_id": "door-c-0000002", "code": CODE, "at": "0001-01-01T00:00:00+23:59"},
        {"scan_id": "door-c-0000003", "code": CODE, "at": "9999-12-31T23:59:59-23:59"},
        {"scan_id": "door-c-0000004", "code": CODE, "at": "1999-12-31T23:59:59+00:00"},
    ]
    response = send_json(organiser_client, door_url(today, "sync"), {"scans": scans}, csrf)
    assert response.status_code == 200
    assert [r["outcome"] for r in response.json()["results"]] == ["invalid"] * 5
    single = send_json(organiser_client, door_url(today, "scan"), scans[2], csrf)
    assert single.status_code in (400, 422)
    deep = organiser_client.post(
        door_url(today, "sync"), content=b"[" * 5000 + b"]" * 5000, headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"}
    )
    assert deep.status_code == 400
    assert check_ins(sessions) == 0


def test_the_door_page_marks_what_its_script_updates_and_works_without_it(organiser_client, today, holder, make_registration):
    make_registration(today, name="Ben Tan", email="ben@example.org", checkin_code="ABCDE12345", checked_in_at=utcnow())
    page = organiser_client.get(f"/admin/events/{today.slug}/check-in").text
    # The count and each person's line, found by the scanner's script to update without a reload.
    assert '<strong id="check-in-count">1</strong> of 2 checked in' in page
    assert '<li data-code="7K3QX2M49D" data-name="&lt;script&gt;alert(&#34;door&#34;)&lt;/script&gt; &amp; Ölçek">' in page
    # The offline note is the script's to show: hidden without it, and the buttons by name work.
    assert re.search(r'<p id="check-in-offline" class="notice" hidden>Offline: scan or type codes; the buttons work'
                     r' again when the network returns\.</p>', page)
    assert "disabled" not in page
