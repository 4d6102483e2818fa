"""Answers under keys the event's form has not (a deleted question, the programme's form the
event's own replaced, data older than the forms) show under their last known label, marked
"(no longer asked)", on the registration page and as the exports' headers."""

from __future__ import annotations

import csv
import html
import io
import re

from openpyxl import load_workbook

from portal.questions.schema import parse_form
from portal.questions.store import Owner, save_form

GONE = " (no longer asked)"


def _facts(page: str) -> dict[str, str]:
    facts = [html.unescape(re.sub(r"<[^>]+>", "", f)).strip() for f in re.findall(r"<d[td][^>]*>(.*?)</d[td]>", page, re.DOTALL)]
    return dict(zip(facts[::2], facts[1::2], strict=False))


def _csv_header(client, slug):  # type: ignore[no-untyped-def]
    content = client.get(f"/admin/events/{slug}/export.csv").content.decode("utf-8-sig")
    return next(csv.reader(io.StringIO(content, newline="")))


def _xlsx_header(client, slug):  # type: ignore[no-untyped-def]
    workbook = load_workbook(io.BytesIO(client.get(f"/admin/events/{slug}/export.xlsx").content), read_only=True)
    try:
        return [c for c in next(workbook.active.iter_rows(values_only=True))]
    finally:
        workbook.close()


def test_programme_answers_show_under_the_programme_forms_labels(organiser_client, make_programme, make_event, make_registration, run):
    programme = make_programme(code="tatc-x")
    run(save_form, None, Owner(programme_id=programme.id), parse_form([
        {"key": "billing_contact", "type": "text", "label": "Billing contact name"},
    ]))
    event = make_event(slug="tatc-x-2027", programme_id=programme.id)
    person = make_registration(event, name="Bill Payer", answers={"billing_contact": "Accounts <b>Dept</b>", "billing_email": "b@example.org"})
    # On the programme's form: its label; billing_email is on no form, and known from before forms.
    page = organiser_client.get(f"/admin/registrations/{person.id}").text
    facts = _facts(page)
    assert facts["Billing contact name"] == "Accounts <b>Dept</b>" and "Accounts &lt;b&gt;Dept&lt;/b&gt;" in page
    assert facts["Billing contact email" + GONE] == "b@example.org"
    assert "billing_contact" not in facts and "billing_email" not in facts
    # The event is given its own form without the question: the programme's label still names it.
    run(save_form, None, Owner(event_id=event.id), parse_form([{"key": "diet", "type": "text", "label": "Dietary needs"}]))
    facts = _facts(organiser_client.get(f"/admin/registrations/{person.id}").text)
    assert facts["Billing contact name" + GONE] == "Accounts <b>Dept</b>"
    header = _csv_header(organiser_client, event.slug)
    assert header[-3:] == ["Dietary needs", "Billing contact name" + GONE, "Billing contact email" + GONE]
    assert _xlsx_header(organiser_client, event.slug)[-3:] == header[-3:]


def test_a_deleted_question_keeps_its_newest_label_from_the_audit_log(organiser_client, make_event, make_registration, run):
    event = make_event(slug="relabelled-2027")
    owner = Owner(event_id=event.id)
    run(save_form, None, owner, parse_form([{"key": "diet", "type": "text", "label": "Diet"}]))
    run(save_form, None, owner, parse_form([{"key": "diet", "type": "text", "label": "Dietary needs"}]))
    # Deleted while nobody had answered it (a question with answers would be retired instead).
    run(save_form, None, owner, parse_form([{"key": "size", "type": "text", "label": "=T-shirt size"}]))
    person = make_registration(event, answers={"diet": "vegetarian", "size": "M", "mystery": "42"})
    facts = _facts(organiser_client.get(f"/admin/registrations/{person.id}").text)
    assert facts["Dietary needs" + GONE] == "vegetarian" and facts["mystery" + GONE] == "42"
    header = _csv_header(organiser_client, event.slug)
    # A label a spreadsheet would run stays neutralised.
    assert header[-3:] == ["'=T-shirt size", "Dietary needs" + GONE, "mystery" + GONE]
    assert _xlsx_header(organiser_client, event.slug)[-3:] == ["'=T-shirt size", "Dietary needs" + GONE, "mystery" + GONE]


def test_two_answers_known_by_the_same_label_keep_their_headers_apart(organiser_client, make_event, make_registration, run):
    event = make_event(slug="countries-2027")
    owner = Owner(event_id=event.id)
    run(save_form, None, owner, parse_form([{"key": "home_country", "type": "text", "label": "Country"}]))
    run(save_form, None, owner, parse_form([{"key": "nation", "type": "text", "label": "Country (no longer asked)"}]))
    # "country" was asked before forms as "Country", "home_country" was labelled "Country" too.
    person = make_registration(event, answers={"country": "Malaysia", "home_country": "Brunei", "nation": "Laos"})
    header = _csv_header(organiser_client, event.slug)
    assert header[-3:] == [
        "Country (no longer asked)", "Country (no longer asked) [country]", "Country (no longer asked) [home_country]",
    ]
    assert len(set(header)) == len(header)
    facts = _facts(organiser_client.get(f"/admin/registrations/{person.id}").text)
    assert facts["Country (no longer asked)"] == "Laos"
    assert facts["Country (no longer asked) [country]"] == "Malaysia" and facts["Country (no longer asked) [home_country]"] == "Brunei"
