"""Name badges as PDF: every script comes back out, the QR codes decode, the layouts hold their
number of badges, and no name runs off its badge."""

from __future__ import annotations

import logging

import pytest

from portal.documents.badges import A4, SINGLE, Badge, badges_pdf, layout_of, parts
from portal.documents.fonts import new_document
from portal.documents.tickets import payload
from portal.documents.typeset import Box, Setter
from tests.documents.reading import SIX_SCRIPTS, contains, embedded_fonts, font_sizes, page_sizes, page_texts, qr_texts, segments

EVENT = "Asia-Pacific Programme for Senior Military Officers 2026"


def badge(name: str, n: int = 1, **kw: object) -> Badge:
    values: dict[str, object] = {"organisation": "S. Rajaratnam School of International Studies", "role": "Colonel · Singapore",
                                 "event": EVENT, "ticket": payload(f"{n:010d}")}
    values.update(kw)
    return Badge(name, **values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def six() -> bytes:
    return badges_pdf([badge(name, i) for i, name in enumerate(SIX_SCRIPTS.values())])


@pytest.mark.parametrize("script", sorted(SIX_SCRIPTS))
def test_a_name_in_each_script_comes_back_out(six, script):
    text = page_texts(six)[0]
    assert contains(text, SIX_SCRIPTS[script]), (script, text)


def test_the_fonts_of_every_script_are_embedded_and_no_glyph_is_missing(caplog):
    with caplog.at_level(logging.WARNING, logger="fpdf"):
        pdf = badges_pdf([badge(name, i, organisation=name) for i, name in enumerate(SIX_SCRIPTS.values())])
    fonts = embedded_fonts(pdf)
    # Names in bold; organisations in regular. Chinese in its one (regular) weight.
    assert fonts == {
        "NotoSansBold", "NotoSans", "NotoSansArabicBold", "NotoSansThaiBold", "NotoSansDevanagariBold",
        "NotoSansArabic", "NotoSansThai", "NotoSansDevanagari", "NotoSansCJKSC",
    }
    assert not [r for r in caplog.records if "missing" in r.getMessage()]


def test_a_latin_sheet_embeds_no_other_script():
    fonts = embedded_fonts(badges_pdf([badge("Ada Lovelace"), badge("Grace Hopper")]))
    assert fonts == {"NotoSansBold", "NotoSans"}


def test_each_qr_code_holds_its_ticket():
    people = [badge(f"Person {i}", i) for i in range(8)]
    pdf = badges_pdf(people)
    assert qr_texts(pdf) == sorted(b.ticket for b in people)


def test_a_badge_without_a_ticket_has_no_qr_code():
    pdf = badges_pdf([badge("Waiting Person", ticket=None), badge("Confirmed Person", 7)])
    assert qr_texts(pdf) == [payload("0000000007")]


def test_a4_has_eight_badges_a_page_with_cutting_marks():
    pdf = badges_pdf([badge(f"Person {i}", i) for i in range(9)], "a4")
    assert page_sizes(pdf) == [(210.0, 297.0), (210.0, 297.0)]
    texts = page_texts(pdf)
    assert [sum(f"Person {i}" in t for i in range(9)) for t in texts] == [8, 1]
    assert len(qr_texts(pdf, 0)) == 8 and len(qr_texts(pdf, 1)) == 1
    # Cutting marks: two short lines at each corner of the page's one badge, on the lines of its
    # edges and outside it (the other line drawn is the rule under the event's name, inside).
    x, y = A4.places()[0]
    w, h = A4.badge
    outside = [
        (a, b) for a, b in segments(pdf, 1)
        if not (x < (a[0] + b[0]) / 2 < x + w and y < (a[1] + b[1]) / 2 < y + h)
    ]
    assert len(outside) == 8
    for a, b in outside:
        assert (a[0] == b[0] and round(a[0], 1) in (round(x, 1), round(x + w, 1))) or (a[1] == b[1] and round(a[1], 1) in (round(y, 1), round(y + h, 1)))


def test_single_is_one_4_by_3_inch_badge_a_page():
    pdf = badges_pdf([badge(f"Person {i}", i) for i in range(3)], "single")
    assert page_sizes(pdf) == [(101.6, 76.2)] * 3
    assert [[f"Person {i}" in t for i in range(3)] for t in page_texts(pdf)] == [[True, False, False], [False, True, False], [False, False, True]]
    assert qr_texts(pdf, 2) == [payload("0000000002")]


def test_the_badges_fit_their_sheet():
    for sheet in (A4, SINGLE):
        for x, y in sheet.places():
            assert 0 <= x and x + sheet.badge[0] <= sheet.page[0] and 0 <= y and y + sheet.badge[1] <= sheet.page[1]
    with pytest.raises(ValueError, match="a4, single"):
        layout_of("letter")


def _name_fit(name: str, sheet=A4):  # type: ignore[no-untyped-def]
    pdf = new_document([(name, "B")], format=sheet.page)
    pdf.add_page()
    setter = Setter(pdf)
    part = parts(Box(0, 0, *sheet.badge), qr=True)["name"]
    fitted = setter.fit(name, part.box, largest=part.largest, smallest=part.smallest, lines=part.lines, style="B", wrap_below=part.wrap_below)
    return setter, part, fitted


def _inside(setter, part, fitted) -> bool:  # type: ignore[no-untyped-def]
    return (
        all(setter.width(line, "B") * fitted.size <= part.box.w + 1e-6 for line in fitted.lines)
        and fitted.line_height * len(fitted.lines) <= part.box.h + 1e-6
    )


def test_a_short_name_is_drawn_large_on_one_line():
    setter, part, fitted = _name_fit("Ada Lovelace")
    assert fitted.lines == ("Ada Lovelace",) and fitted.size == part.largest and not fitted.cut
    assert _inside(setter, part, fitted)


@pytest.mark.parametrize("name", [
    "Siti Nurhaliza binti Tarudin Abdul Rahman Al-Haj",
    "王" * 30,
    "محمد بن عبد الله بن عبد العزيز بن عبد الرحمن آل سعود",
])
def test_a_long_name_wraps_onto_two_lines_and_stays_inside(name):
    setter, part, fitted = _name_fit(name)
    assert len(fitted.lines) == 2 and not fitted.cut
    assert part.smallest <= fitted.size < part.largest
    assert _inside(setter, part, fitted)
    # Nothing lost: the two lines are the name.
    assert "".join(fitted.lines).replace(" ", "") == name.replace(" ", "")


LONGEST = "Dr Maria Fernanda de los Ángeles Villanueva-Castellanos y Montenegro-Hernández"


@pytest.mark.parametrize("sheet", [A4, SINGLE])
@pytest.mark.parametrize("name", [LONGEST, "Maria del Carmen Fernández de la Concepción Rodríguez y Villanueva-Santamaría"])
def test_a_very_long_name_takes_three_lines_whole_and_stays_the_largest_text(name, sheet):
    setter, part, fitted = _name_fit(name, sheet)
    assert len(fitted.lines) == 3 and not fitted.cut
    assert _inside(setter, part, fitted)
    assert "".join(fitted.lines).replace(" ", "") == name.replace(" ", "")
    others = parts(Box(0, 0, *sheet.badge), qr=True)
    assert fitted.size > max(others["organisation"].largest, others["event"].largest, others["role"].largest)
    # In the PDF: the whole surname comes back out, and the name's size is the page's largest.
    pdf = badges_pdf([badge(name, event="Asia-Pacific Programme for Senior Military Officers 2027")], "a4" if sheet is A4 else "single")
    text = page_texts(pdf)[0]
    assert name.split()[-1] in text and "…" not in text
    assert max(font_sizes(pdf)) == round(fitted.size, 2)


@pytest.mark.parametrize("sheet", [A4, SINGLE])
@pytest.mark.parametrize("name", ["W" * 200, " ".join(["Wolfeschlegelsteinhausenbergerdorff"] * 6), "अनिल" * 50])
def test_a_name_too_long_for_any_size_is_cut_not_run_off_the_badge(name, sheet):
    setter, part, fitted = _name_fit(name, sheet)
    assert fitted.cut and fitted.size == part.smallest and len(fitted.lines) <= 3
    assert part.smallest > parts(Box(0, 0, *sheet.badge), qr=True)["organisation"].largest
    assert fitted.lines[-1].endswith("…")
    assert _inside(setter, part, fitted)


def test_the_pdf_draws_the_name_at_the_size_fitted():
    name = "Maria del Carmen Fernández de la Concepción Rodríguez y Villanueva-Santamaría"
    _, _, fitted = _name_fit(name)
    sizes = font_sizes(badges_pdf([badge(name)]))
    assert round(fitted.size, 2) in sizes
    assert max(sizes) < 26  # not the largest size: it did not fit that


def test_hostile_text_is_drawn_as_plain_text():
    hostile = "<b>Bold</b> **not** {nb} \x07\x1b[31m\u202eevil\u202c <script>alert(1)</script>"
    pdf = badges_pdf([badge(hostile, organisation="=HYPERLINK(\"x\")\r\nTab\there", role="\x00")])
    text = page_texts(pdf)[0]
    assert "<b>Bold</b> **not** {nb}" in text and "<script>alert(1)</script>" in text
    assert "\u202e" not in text and "\x07" not in text and "\x1b" not in text
    assert '=HYPERLINK("x") Tab here' in text


def test_no_badges_is_one_empty_page():
    pdf = badges_pdf([])
    assert page_sizes(pdf) == [(210.0, 297.0)]
