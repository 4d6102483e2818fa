"""Exports leave sensitive answers out, column and all, unless asked for by name (the back
office's ?include=KEY, the command line's --include-sensitive KEY); each export is recorded
with its format, rows, bytes and the sensitive questions it held."""

from __future__ import annotations

import csv
import io
import json

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from portal import cli
from portal.models import AuditActor, AuditEntry
from portal.rosters.badges import event_badges
from tests.sealed_forms import DIET, PASSPORT, sealed_world


@pytest.fixture
def world(make_event, make_form, make_registration, run):  # type: ignore[no-untyped-def]
    return sealed_world(make_event, make_form, make_registration, run, slug="tatc-2027", timezone="Asia/Singapore")


def read_csv(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


def read_xlsx(content: bytes) -> list[list[object]]:
    workbook = load_workbook(io.BytesIO(content), read_only=True)
    try:
        return [list(row) for row in workbook.active.iter_rows(values_only=True)]
    finally:
        workbook.close()


def by_name(rows: list[list[object]]) -> dict[str, dict[str, object]]:
    header = [str(h) for h in rows[0]]
    return {str(r[1]): dict(zip(header, r, strict=True)) for r in rows[1:]}


def exports(sessions) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == "export.roster").order_by(AuditEntry.id)))


def test_the_export_leaves_sensitive_answers_out(organiser_client, organiser, world, sessions):
    response = organiser_client.get("/admin/events/tatc-2027/export.csv")
    assert response.status_code == 200
    assert PASSPORT.encode() not in response.content and b"peanuts" not in response.content
    rows = read_csv(response.content)
    assert "Passport number" not in rows[0] and "Dietary or medical needs" not in rows[0]
    assert by_name(rows)["Aisha Rahman"]["Rank"] == "Colonel"
    [entry] = exports(sessions)
    assert entry.organiser_id == organiser.id and entry.event_id == world.event.id
    assert entry.after == {"format": "csv", "sensitive": [], "rows": 2, "bytes": len(response.content)}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_export_holds_the_sensitive_answers_named(organiser_client, world, sessions, fmt):
    response = organiser_client.get(f"/admin/events/tatc-2027/export.{fmt}?include=passport")
    assert response.status_code == 200
    rows = read_csv(response.content) if fmt == "csv" else read_xlsx(response.content)
    people = by_name(rows)
    assert people["Aisha Rahman"]["Passport number"] == PASSPORT
    assert people["Ben Tan"]["Passport number"] in ("", None)
    assert "Dietary or medical needs" not in [str(h) for h in rows[0]]  # not named: left out
    [entry] = exports(sessions)
    assert entry.after == {"format": fmt, "sensitive": ["passport"], "rows": 2, "bytes": len(response.content)}
    both = organiser_client.get(f"/admin/events/tatc-2027/export.{fmt}?include=passport&include=diet")
    people = by_name(read_csv(both.content) if fmt == "csv" else read_xlsx(both.content))
    assert people["Aisha Rahman"]["Dietary or medical needs"] == DIET
    assert exports(sessions)[-1].after["sensitive"] == ["passport", "diet"]
    assert PASSPORT not in json.dumps([e.after for e in exports(sessions)])


def test_an_unknown_key_is_refused_naming_the_known_ones(organiser_client, world, sessions):
    response = organiser_client.get("/admin/events/tatc-2027/export.csv?include=rank")
    assert response.status_code == 400
    assert "diet, passport" in response.text
    assert exports(sessions) == []


def test_the_roster_offers_the_sensitive_questions_by_name(organiser_client, world):
    page = organiser_client.get("/admin/events/tatc-2027").text
    assert 'name="include" value="passport"' in page and 'name="include" value="diet"' in page
    assert 'name="include" value="rank"' not in page


def test_the_command_line_includes_by_name_and_refuses_others(world, portal_env, capsys, sessions, settings, monkeypatch):
    monkeypatch.setenv("PORTAL_DATA_KEY", settings.keyring.keys[0])  # the key the answers were sealed with
    assert cli.main(["export", "roster", "tatc-2027", "-o", "plain.csv"]) == 0
    plain = (portal_env / "plain.csv").read_bytes()
    assert PASSPORT.encode() not in plain
    assert cli.main(["export", "roster", "tatc-2027", "-o", "named.csv", "--include-sensitive", "passport", "--include-sensitive", "diet"]) == 0
    named = by_name(read_csv((portal_env / "named.csv").read_bytes()))
    assert named["Aisha Rahman"]["Passport number"] == PASSPORT and named["Aisha Rahman"]["Dietary or medical needs"] == DIET
    capsys.readouterr()
    assert cli.main(["export", "roster", "tatc-2027", "-o", "bad.csv", "--include-sensitive", "rank"]) == 2
    error = capsys.readouterr().err
    assert "rank" in error and "diet, passport" in error
    assert not (portal_env / "bad.csv").exists()
    # Both recorded, by the command line, with their sizes.
    first, second = exports(sessions)
    assert first.actor == AuditActor.COMMAND_LINE and first.organiser_id is None
    assert first.after == {"format": "csv", "sensitive": [], "rows": 2, "bytes": len(plain)}
    assert second.after["sensitive"] == ["passport", "diet"]
    assert second.after["bytes"] == (portal_env / "named.csv").stat().st_size


def test_badges_never_carry_a_sensitive_answer(make_event, make_form, make_registration, run):
    event = make_event()
    make_form([{"key": "rank", "type": "text", "label": "Rank", "sensitive": True}], event=event)
    make_registration(event, name="Aisha Rahman", answers={"rank": "Colonel"})
    [badge] = run(event_badges, event.slug).badges
    assert "Colonel" not in badge.role
