"""A certificate of attendance as PDF: what it shows comes back out, in any script, and its QR
code leads to its public page."""

from __future__ import annotations

import pytest

from portal.documents.certificates import certificate_pdf, display_code
from tests.documents.reading import SIX_SCRIPTS, contains, page_sizes, page_texts, qr_texts

VERIFY = "https://events.example.org/certificates/7K3QX2M49DAB"
SHOWS = {
    "name": "Nguyễn Thị Minh Khai",
    "event": "Asia-Pacific Programme for Senior Military Officers 2026",
    "programme": "Asia-Pacific Programme for Senior Military Officers",
    "dates": "Mon 2 Mar – Fri 6 Mar 2026",
    "days_attended": ["Mon 2 Mar 2026", "Tue 3 Mar 2026", "Thu 5 Mar 2026", "Fri 6 Mar 2026"],
    "days": 5,
    "issuer": "S. Rajaratnam School of International Studies",
}


@pytest.fixture(scope="module")
def certificate() -> bytes:
    return certificate_pdf(SHOWS, "7K3QX2M49DAB", VERIFY)


def test_one_a4_landscape_page(certificate):
    assert page_sizes(certificate) == [(297.0, 210.0)]


def test_it_shows_what_the_certificate_holds(certificate):
    text = page_texts(certificate)[0]
    for value in (SHOWS["name"], SHOWS["event"], "Programme: " + SHOWS["programme"], SHOWS["dates"], SHOWS["issuer"]):
        assert contains(text, value), value
    assert contains(text, "Days attended: 4 of 5 days: Mon 2 Mar 2026, Tue 3 Mar 2026, Thu 5 Mar 2026, Fri 6 Mar 2026")
    assert "7K3Q-X2M4-9DAB" in text
    assert VERIFY in text


def test_its_qr_code_leads_to_its_public_page(certificate):
    assert qr_texts(certificate) == [VERIFY]


@pytest.mark.parametrize("script", sorted(SIX_SCRIPTS))
def test_a_name_in_each_script_comes_back_out(script):
    name = SIX_SCRIPTS[script]
    text = page_texts(certificate_pdf({**SHOWS, "name": name, "issuer": name}, "7K3QX2M49DAB", VERIFY))[0]
    assert contains(text, name), (script, text)


def test_a_one_day_event_and_a_missing_programme():
    shows = {**SHOWS, "programme": "", "days_attended": ["Mon 2 Mar 2026"], "days": 1, "dates": "Mon 2 Mar 2026"}
    text = page_texts(certificate_pdf(shows, "7K3QX2M49DAB", VERIFY))[0]
    assert "Days attended: 1 of 1 day: Mon 2 Mar 2026" in text
    assert "Programme:" not in text


def test_hostile_values_are_plain_text_and_a_long_name_stays_on_the_page():
    shows = {**SHOWS, "name": "<b>x</b>{nb}\u202e" + " Longname" * 40, "event": "\x00\x1b[2J" + "E" * 300}
    pdf = certificate_pdf(shows, "7K3QX2M49DAB", VERIFY)
    text = page_texts(pdf)[0]
    assert "<b>x</b>{nb}" in text and "\u202e" not in text and "\x1b" not in text
    assert "…" in text  # cut, rather than run off the page
    assert qr_texts(pdf) == [VERIFY]


def test_the_code_reads_as_its_page_shows_it():
    assert display_code("7K3QX2M49DAB") == "7K3Q-X2M4-9DAB"
    assert display_code("7K3Q-X2M4-9DAB") == "7K3Q-X2M4-9DAB"
