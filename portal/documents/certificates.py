"""A certificate of attendance as PDF: one A4 landscape page that shows what the certificate
holds (Certificate.shows: the name, the event and programme, the dates, the days attended, the
issuer) and nothing else, with its verification code and a QR code of its public page.

Every value is drawn as plain text in the fonts of its script (fonts.py), each fitted to its
box (typeset.py): a long name or title shrinks, then wraps, and never runs off the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fpdf import FPDF

from portal.documents import codes
from portal.documents.fonts import Style, finish, new_document, plain
from portal.documents.typeset import Box, Colour, Setter, draw_qr

PAGE = (297.0, 210.0)  # A4 landscape, mm
TITLE = "Certificate of attendance"
_INK = 20  # grey levels: the name and the event
_QUIET = 85  # the words around them
_FRAME = (38, 63, 99)


def _days(shows: Mapping[str, Any]) -> str:
    """'3 of 5 days: Mon 2 Mar 2026, …', as the public page words it."""
    attended = shows.get("days_attended")
    listed = [plain(d) for d in attended] if isinstance(attended, list) else []
    count = len(listed) if isinstance(attended, list) else attended if isinstance(attended, int) else 0
    total = shows.get("days")
    of = f" of {total} day{'' if total == 1 else 's'}" if isinstance(total, int) else f" day{'' if count == 1 else 's'}"
    return f"Days attended: {count}{of}" + (f": {', '.join(listed)}" if listed else "")


def display_code(code: str) -> str:
    """The code as people read it, in groups of four (7K3Q-X2M4-9DAB), as its page shows it."""
    code = plain(code)
    if "-" in code or not code.isalnum():
        return code
    return codes.grouped(code, 4)


def _lines(shows: Mapping[str, Any], code: str, verify_url: str) -> dict[str, tuple[str, Style]]:
    """What the page says, each with its weight, by where it goes."""
    programme = plain(shows.get("programme", ""))
    event = plain(shows.get("event", ""))
    return {
        "issuer": (plain(shows.get("issuer", "")), ""),
        "title": (TITLE, "B"),
        "certify": ("This is to certify that", ""),
        "name": (plain(shows.get("name", "")), "B"),
        "attended": ("attended", ""),
        "event": (event, "B"),
        "programme": (f"Programme: {programme}" if programme and programme != event else "", ""),
        "dates": (plain(shows.get("dates", "")), ""),
        "days": (_days(shows), ""),
        "code_label": ("Verification code", ""),
        "code": (display_code(code), "B"),
        "verify": (
            (f"Issued {plain(shows['issued_on'])}. " if shows.get("issued_on") else "")
            + f"Check that this certificate is genuine at {plain(verify_url)} or with the QR code.", ""
        ),
    }


def certificate_pdf(shows: Mapping[str, Any], code: str, verify_url: str) -> bytes:
    """The certificate's one page; `shows` is the certificate's record of what it shows."""
    lines = _lines(shows, code, verify_url)
    pdf = new_document(lines.values(), orientation="landscape", format="A4")
    pdf.set_title(f"{TITLE}: {lines['name'][0]}")
    pdf.add_page()
    _frame(pdf)
    setter = Setter(pdf)

    def put(key: str, box: Box, largest: float, smallest: float, lines_: int = 1, colour: Colour = _INK, align: str = "C") -> None:
        text, style = lines[key]
        setter.put(text, box, largest=largest, smallest=smallest, lines=lines_, style=style, colour=colour, align=align, wrap_below=0.8)

    left, width = 30.0, PAGE[0] - 60.0
    put("issuer", Box(left, 22, width, 10), 13, 8, 2, _QUIET)
    put("title", Box(left, 34, width, 16), 30, 18, colour=_FRAME)
    put("certify", Box(left, 54, width, 8), 12, 9, colour=_QUIET)
    put("name", Box(left, 63, width, 27), 34, 12, 2)
    put("attended", Box(left, 92, width, 8), 12, 9, colour=_QUIET)
    put("event", Box(left, 101, width, 19), 20, 10, 2)
    put("programme", Box(left, 121, width, 8), 13, 8, colour=_QUIET)
    put("dates", Box(left, 130, width, 8), 13, 8)
    put("days", Box(left, 139, width, 12), 11, 7, 2, _QUIET)
    qr = 34.0
    qr_x, qr_y = PAGE[0] - 24 - qr, PAGE[1] - 22 - qr
    text_w = qr_x - left - 6
    put("code_label", Box(left, 160, text_w, 6), 10, 8, colour=_QUIET, align="L")
    put("code", Box(left, 166, text_w, 9), 16, 10, align="L")
    put("verify", Box(left, 176, text_w, 10), 9, 6, 2, _QUIET, align="L")
    draw_qr(pdf, verify_url, qr_x, qr_y, qr)
    return finish(pdf)


def _frame(pdf: FPDF) -> None:
    w, h = PAGE
    with pdf.local_context(draw_color=_FRAME, line_width=1.2):
        pdf.rect(10, 10, w - 20, h - 20)
    with pdf.local_context(draw_color=_FRAME, line_width=0.3):
        pdf.rect(13, 13, w - 26, h - 26)
