"""Answers by question in the roster and the exports: one column per question, headed by its
label, in form order with retired ones last; choices by their labels, picks joined by "; ";
files linked to a download for organisers; the roster filtered by an answer, with the count
per choice and the places left; the endorsement of a nomination."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook

from portal import cli
from portal.models import ChoicePick, Endorsement, RegistrationStatus, Upload
from portal.questions import store
from portal.questions.schema import parse_form
from portal.questions.store import Owner
from portal.registrations import uploads
from portal.rosters.columns import COLUMNS, choose_roster_columns

HOSTILE_LABEL = '@SUM(1)<script>alert("label")</script>'
HOSTILE_ANSWER = '=HYPERLINK("http://evil.example","<b>click</b>")'
FORM = [
    {"type": "heading", "label": "About your service"},
    {"key": "rank", "type": "text", "label": "Rank"},
    {"key": "workshop", "type": "choice", "label": "Workshop",
     "choices": [{"value": "a", "label": "Workshop A", "places": 2}, {"value": "b", "label": "Workshop B"}]},
    {"key": "meals", "type": "multichoice", "label": "Meals", "choices": [{"value": "lunch", "label": "Lunch"}, {"value": "dinner", "label": "Dinner"}]},
    {"key": "visa", "type": "yesno", "label": "Visa letter?"},
    # Not sensitive here, so that its name shows as the other answers do (test_masking.py masks).
    {"key": "cv", "type": "file", "label": "CV", "sensitive": False},
    {"key": "evil", "type": "text", "label": HOSTILE_LABEL},
    {"key": "nominator_email", "type": "email", "label": "Nominating officer's email", "nominator": True},
    {"key": "old", "type": "text", "label": "Old question", "retired": True},
]
HEADINGS = ["Rank", "Workshop", "Meals", "Visa letter?", "CV", HOSTILE_LABEL, "Nominating officer's email", "Old question (retired)"]
ENDORSED_AT = datetime(2027, 3, 3, 2, 0, tzinfo=UTC)


@pytest.fixture
def world(make_programme, make_event, make_registration, run, settings):  # type: ignore[no-untyped-def]
    programme = make_programme(code="appsmo", name="APPSMO")
    run(store.save_form, None, Owner(programme_id=programme.id), parse_form(FORM))
    event = make_event(slug="appsmo-2027", programme_id=programme.id)
    aisha = make_registration(event, name="Aisha Rahman", answers={
        "rank": "Colonel", "workshop": "a", "meals": ["lunch", "dinner"], "visa": "yes", "cv": "cv.pdf", "old": "kept", "legacy": "from 2019",
    })
    ben = make_registration(event, name="Ben Tan", answers={"workshop": "b", "meals": ["dinner"], "visa": "no"},
                            endorsement=Endorsement.ENDORSED, endorsement_at=ENDORSED_AT)
    mallory = make_registration(event, name="<script>alert(1)</script>", answers={"rank": HOSTILE_ANSWER, "workshop": "a", "evil": "-1+2"},
                                endorsement=Endorsement.AWAITING)
    gone = make_registration(event, name="Gone Away", answers={"workshop": "a", "meals": ["lunch"]}, status=RegistrationStatus.CANCELLED)
    # The places the registration service holds for picks of a choice with places.
    run(lambda session: session.add_all(
        ChoicePick(registration_id=r.id, question_key="workshop", value="a", event_id=event.id) for r in (aisha, mallory, gone)
    ))
    stored = uploads.save(settings.upload_directory, b"%PDF-1.4 the cv\n")
    run(lambda session: session.add(Upload(
        stored_name=stored, registration_id=aisha.id, event_id=event.id, question_key="cv",
        filename='cv "final".pdf', content_type="application/pdf", size=16,
    )))
    return {"programme": programme, "event": event, "aisha": aisha, "ben": ben, "mallory": mallory, "stored": stored}


@pytest.fixture
def every_column(run, organiser):  # type: ignore[no-untyped-def]
    """The organiser has chosen to see every roster column but the actions (by default the
    answers and the endorsement are hidden: tests/web/backoffice/test_roster_columns.py)."""
    run(choose_roster_columns, organiser.id, [c for c in COLUMNS if c != "actions"])


def roster_rows(page: str) -> dict[str, list[str]]:
    """The roster table's rows by name: each cell's text."""
    body = page.split('<table class="striped roster cards-on-phone">', 1)[1].split("</table>", 1)[0]
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>", 1)[1], re.DOTALL):
        cells = [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.DOTALL)]
        rows[cells[1]] = cells
    return rows


def headings(page: str) -> list[str]:
    head = page.split('<table class="striped roster cards-on-phone">', 1)[1].split("</thead>", 1)[0]
    return [html.unescape(re.sub(r"<[^>]+>", "", h)).strip() for h in re.findall(r"<th[^>]*>(.*?)</th>", head, re.DOTALL)]


def test_the_roster_has_a_column_per_question(organiser_client, world, every_column):
    page = organiser_client.get("/admin/events/appsmo-2027")
    assert page.status_code == 200
    heads = headings(page.text)
    # The endorsement beside the status it bears on; the answers after the roster's own columns.
    assert heads[heads.index("Status"):heads.index("Status") + 2] == ["Status", "Endorsement"]
    assert heads[heads.index("Checked in") + 1:] == HEADINGS
    rows = roster_rows(page.text)
    endorsement = heads.index("Endorsement")
    aisha = rows["Aisha Rahman"]
    assert aisha[-8:] == ["Colonel", "Workshop A", "Lunch; Dinner", "Yes", "cv.pdf", "", "", "kept"]
    assert aisha[endorsement] == ""
    assert rows["Ben Tan"][-8:] == ["", "Workshop B", "Dinner", "No", "", "", "", ""]
    assert rows["Ben Tan"][endorsement] == "Endorsed 3 Mar 2027"
    assert rows["<script>alert(1)</script>"][endorsement] == "Awaiting endorsement"
    # Answer columns may wrap (portal.css), so that a long form does not make the table huge.
    assert len(re.findall(r'<th scope="col" class="answer-col[ "]', page.text)) == len(HEADINGS)
    # The file's name links to the organisers' download.
    assert f'href="http://testserver/admin/registrations/{world["aisha"].id}/files/cv">cv.pdf</a>' in page.text
    # Hostile labels and answers are text, never markup.
    assert "<script>" not in page.text and "<b>click</b>" not in page.text
    assert "&lt;script&gt;alert(&#34;label&#34;)&lt;/script&gt;" in page.text


def test_a_relabelled_choice_shows_its_new_label_over_old_answers(organiser_client, world, run, every_column):
    relabelled = [dict(q) for q in FORM]
    relabelled[2] = {**FORM[2], "label": "Morning workshop", "choices": [{"value": "a", "label": "Workshop Alpha", "places": 2}, {"value": "b", "label": "Workshop B"}]}
    run(store.save_form, None, Owner(programme_id=world["programme"].id), parse_form(relabelled))
    page = organiser_client.get("/admin/events/appsmo-2027")
    assert "Morning workshop" in headings(page.text)
    assert roster_rows(page.text)["Aisha Rahman"][-7] == "Workshop Alpha"


def test_counts_per_choice_and_places_left(organiser_client, world, make_registration):
    page = organiser_client.get("/admin/events/appsmo-2027").text
    section = html.unescape(re.sub(r"<[^>]+>", " ", page.split('id="answers-heading"', 1)[1].split("</section>", 1)[0]))
    words = " ".join(section.split())
    # The cancelled registration holds no place and is not counted.
    assert "Workshop A 2 0 of 2" in words and "Workshop B 1 no limit" in words
    assert "Lunch 1" in words and "Dinner 2" in words
    assert "Yes 1" in words and "No 1" in words
    # A new registration is counted at once (the kept counts follow the event's changes).
    make_registration(world["event"], answers={"workshop": "b", "meals": ["lunch"]})
    page = organiser_client.get("/admin/events/appsmo-2027").text
    words = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.split('id="answers-heading"', 1)[1].split("</section>", 1)[0])).split())
    assert "Workshop B 2 no limit" in words and "Lunch 2" in words


@pytest.mark.parametrize(("question", "answer", "names"), [
    ("workshop", "a", {"Aisha Rahman", "<script>alert(1)</script>"}),
    ("workshop", "b", {"Ben Tan"}),
    ("meals", "lunch", {"Aisha Rahman"}),
    ("meals", "dinner", {"Aisha Rahman", "Ben Tan"}),
    ("visa", "no", {"Ben Tan"}),
])
def test_the_roster_filters_by_an_answer(organiser_client, world, question, answer, names):
    page = organiser_client.get(f"/admin/events/appsmo-2027?status=confirmed&question={question}&answer={answer}")
    assert page.status_code == 200
    assert set(roster_rows(page.text)) == names
    assert f"{len(names)} registration" in page.text
    # The filter stays in the sort links and in the bulk actions' hidden fields.
    assert f"question={question}&amp;answer={answer}" in page.text
    assert f'<input type="hidden" name="answer" value="{answer}">' in page.text


def test_the_answer_filter_works_without_javascript_in_two_steps(organiser_client, world):
    first = organiser_client.get("/admin/events/appsmo-2027").text
    assert '<select id="roster-question" name="question"' in first and 'id="roster-answer"' not in first
    # Step two: the question is chosen, its answers are offered; nothing is filtered yet.
    second = organiser_client.get("/admin/events/appsmo-2027?question=workshop").text
    assert '<option value="a">Workshop A</option>' in second
    assert len(roster_rows(second)) == 4
    # An answer left from another question is dropped, not searched for.
    switched = organiser_client.get("/admin/events/appsmo-2027?question=visa&answer=a").text
    assert len(roster_rows(switched)) == 4
    # With a search as well.
    both = organiser_client.get("/admin/events/appsmo-2027?q=aisha&question=workshop&answer=a").text
    assert set(roster_rows(both)) == {"Aisha Rahman"}


def test_a_filter_on_a_question_the_form_has_not_is_a_bad_link(organiser_client, world):
    assert organiser_client.get("/admin/events/appsmo-2027?question=rank&answer=x").status_code == 400
    assert organiser_client.get("/admin/events/appsmo-2027?question=nowhere").status_code == 400
    assert organiser_client.get("/admin/events/appsmo-2027?question=Bad-Key").status_code == 400


def test_organisers_download_a_registrant_file(organiser_client, client, world, settings):
    aisha = world["aisha"]
    response = organiser_client.get(f"/admin/registrations/{aisha.id}/files/cv")
    assert response.status_code == 200
    assert response.content == b"%PDF-1.4 the cv\n"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert "cv%20%22final%22.pdf" in response.headers["content-disposition"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-type"] == "application/pdf"
    assert organiser_client.get(f"/admin/registrations/{world['ben'].id}/files/cv").status_code == 404
    assert organiser_client.get(f"/admin/registrations/{aisha.id}/files/rank").status_code == 404
    (settings.upload_directory / world["stored"]).unlink()
    assert organiser_client.get(f"/admin/registrations/{aisha.id}/files/cv").status_code == 404


def test_signed_out_visitors_cannot_download(client, world):
    response = client.get(f"/admin/registrations/{world['aisha'].id}/files/cv")
    assert response.status_code == 303 and "/admin/sign-in" in response.headers["location"]


def read_csv(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


def test_the_exports_have_the_same_columns_and_neutralise_formulas(organiser_client, world, portal_env):
    rows = read_csv(organiser_client.get("/admin/events/appsmo-2027/export.csv").content)
    header = rows[0]
    start = header.index("Updated (Asia/Singapore)") + 1
    # The form's questions by label (a label a spreadsheet would run is neutralised), then
    # the keys answers hold that the form has not, marked so (no label is known for "legacy").
    assert header[start:] == [*HEADINGS[:5], "'" + HOSTILE_LABEL, *HEADINGS[6:], "legacy (no longer asked)"]
    by_name = {row[1]: row[start:] for row in rows[1:]}
    assert by_name["Aisha Rahman"] == ["Colonel", "Workshop A", "Lunch; Dinner", "Yes", "cv.pdf", "", "", "kept", "from 2019"]
    assert by_name["Ben Tan"][:4] == ["", "Workshop B", "Dinner", "No"]
    mallory = by_name["<script>alert(1)</script>"]
    assert mallory[0] == "'" + HOSTILE_ANSWER and mallory[5] == "'-1+2"
    assert len(rows) == 5  # the cancelled registration is exported too

    workbook = load_workbook(io.BytesIO(organiser_client.get("/admin/events/appsmo-2027/export.xlsx").content))
    cells = list(workbook.active.iter_rows())
    # No cell is a formula; a string cell is text however it starts, so only "=" needs the apostrophe.
    assert all(cell.data_type != "f" for row in cells for cell in row)
    sheet = [[("" if c.value is None else str(c.value)) for c in row] for row in cells]
    assert sheet[0] == [*header[:start + 5], HOSTILE_LABEL, *header[start + 6:]]
    by_name_xlsx = {row[1]: row[start:] for row in sheet[1:]}
    assert by_name_xlsx["<script>alert(1)</script>"][:6] == ["'" + HOSTILE_ANSWER, "Workshop A", "", "", "", "-1+2"]
    assert by_name_xlsx["Aisha Rahman"] == by_name["Aisha Rahman"] and by_name_xlsx["Ben Tan"] == by_name["Ben Tan"]

    assert cli.main(["export", "roster", "appsmo-2027", "-o", "roster.csv"]) == 0
    assert read_csv((portal_env / "roster.csv").read_bytes())[0] == header


def test_a_registration_page_shows_its_answers_by_question(organiser_client, world):
    page = organiser_client.get(f"/admin/registrations/{world['aisha'].id}").text
    facts = [html.unescape(re.sub(r"<[^>]+>", "", f)).strip() for f in re.findall(r"<d[td][^>]*>(.*?)</d[td]>", page, re.DOTALL)]
    pairs = dict(zip(facts[::2], facts[1::2], strict=False))
    assert pairs["Workshop"] == "Workshop A" and pairs["Meals"] == "Lunch; Dinner" and pairs["Visa letter?"] == "Yes"
    assert pairs["Old question (retired)"] == "kept" and pairs["legacy (no longer asked)"] == "from 2019"
    assert f'href="http://testserver/admin/registrations/{world["aisha"].id}/files/cv">cv.pdf</a>' in page
    ben = organiser_client.get(f"/admin/registrations/{world['ben'].id}").text
    assert "Endorsed 3 Mar 2027" in ben and "Old question" not in ben
    mallory = organiser_client.get(f"/admin/registrations/{world['mallory'].id}").text
    assert "<script>" not in mallory and "<b>click</b>" not in mallory


def test_the_exports_show_the_endorsement_after_the_status(organiser_client, world):
    """As the roster page does, for a form with a nominating officer's question."""
    rows = read_csv(organiser_client.get("/admin/events/appsmo-2027/export.csv").content)
    header = rows[0]
    assert header[4:6] == ["Status", "Endorsement"]
    by_name = {row[1]: row[5] for row in rows[1:]}
    assert by_name == {
        "Aisha Rahman": "", "Ben Tan": "Endorsed 3 Mar 2027", "<script>alert(1)</script>": "Awaiting endorsement", "Gone Away": "",
    }
    workbook = load_workbook(io.BytesIO(organiser_client.get("/admin/events/appsmo-2027/export.xlsx").content), read_only=True)
    sheet = [list(row) for row in workbook.active.iter_rows(values_only=True)]
    workbook.close()
    assert sheet[0][4:6] == ["Status", "Endorsement"]
    assert {row[1]: row[5] or "" for row in sheet[1:]} == by_name


def test_without_a_nominator_question_the_exports_have_no_endorsement(organiser_client, make_event, make_registration, every_column):
    event = make_event(slug="seminar")
    make_registration(event, name="Ann Lee")
    header = read_csv(organiser_client.get("/admin/events/seminar/export.csv").content)[0]
    assert "Endorsement" not in header and header[5].startswith("Registered")
    assert "Endorsement" not in headings(organiser_client.get("/admin/events/seminar").text)
