"""Name badges as PDF: the name large, the organisation, a role line (country or programme role),
the event's name and the ticket's QR code, on A4 sheets of eight with cutting marks or one a page
for a badge printer (4 × 3 inches).

The name takes the largest size that fits its box, from 26 points (on A4) down; below three
quarters of that it wraps onto two lines if that is larger, and onto three when two would be
too small; at 12 points (above the organisation's and the event's sizes, so the name stays the
largest text) it is cut with an ellipsis rather than run past the badge. All text is drawn as plain text, in the fonts of its
scripts (fonts.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fpdf import FPDF

from portal.documents.fonts import Style, finish, new_document, plain
from portal.documents.typeset import Box, Setter, draw_qr

LAYOUTS = ("a4", "single")
INCH = 25.4


@dataclass(frozen=True)
class Badge:
    name: str
    organisation: str = ""
    role: str = ""  # country or programme role, as the form asked it
    event: str = ""
    ticket: str | None = None  # what the QR code holds (the ticket's payload); None: no QR code


@dataclass(frozen=True)
class Layout:
    """Pages of `columns` × `rows` badges of one size, centred, with gaps between them."""

    page: tuple[float, float]  # width, height (mm)
    badge: tuple[float, float]
    columns: int
    rows: int
    gap: tuple[float, float] = (0.0, 0.0)
    marks: bool = False  # cutting marks at each badge's corners

    @property
    def per_page(self) -> int:
        return self.columns * self.rows

    def places(self) -> list[tuple[float, float]]:
        """The badges' top left corners on a page, row by row."""
        (pw, ph), (bw, bh), (gx, gy) = self.page, self.badge, self.gap
        left = (pw - self.columns * bw - (self.columns - 1) * gx) / 2
        top = (ph - self.rows * bh - (self.rows - 1) * gy) / 2
        return [(left + c * (bw + gx), top + r * (bh + gy)) for r in range(self.rows) for c in range(self.columns)]


# A4: 90 × 65 mm badges (they fit the common 90 × 65 holders), two across and four down, with
# the gaps and margins a guillotine needs; single: a badge printer's 4 × 3 inch card.
A4 = Layout((210.0, 297.0), (90.0, 65.0), 2, 4, gap=(10.0, 6.0), marks=True)
SINGLE = Layout((4 * INCH, 3 * INCH), (4 * INCH, 3 * INCH), 1, 1)
_LAYOUTS = {"a4": A4, "single": SINGLE}

_MARK_OFFSET = 1.5  # mm from the corner, so a mark is never on the badge
_MARK_LENGTH = 4.0
_GREY = 90  # the event's name and the role line
# The smallest the name is drawn (points, on a 65 mm badge): above the organisation's and the
# event's largest sizes (11 and 9), so that the name stays the largest text on the badge.
NAME_FLOOR = 12.0


def layout_of(name: str) -> Layout:
    try:
        return _LAYOUTS[name]
    except KeyError:
        raise ValueError(f"badge layout {name!r} is not one of {', '.join(LAYOUTS)}") from None


def _texts(badges: Sequence[Badge]) -> list[tuple[str, str]]:
    texts: set[tuple[str, str]] = set()
    for badge in badges:
        texts.add((plain(badge.name), "B"))
        texts.update((plain(t), "") for t in (badge.organisation, badge.role, badge.event))
    return sorted(texts)


def badges_pdf(badges: Sequence[Badge], layout: str = "a4") -> bytes:
    """The badges as one PDF, in the order given: `layout` "a4" (eight a page) or "single"."""
    sheet = layout_of(layout)
    pdf = new_document(_texts(badges), format=sheet.page)  # type: ignore[arg-type]
    pdf.set_title("Name badges")
    setter = Setter(pdf)
    places = sheet.places()
    for index, badge in enumerate(badges):
        slot = index % sheet.per_page
        if slot == 0:
            pdf.add_page()
        x, y = places[slot]
        _badge(pdf, setter, badge, Box(x, y, *sheet.badge))
        if sheet.marks:
            _marks(pdf, Box(x, y, *sheet.badge))
    if not badges:
        pdf.add_page()
    return finish(pdf)


@dataclass(frozen=True)
class Part:
    """Where one of a badge's texts goes, and how it is set (typeset.Setter.fit)."""

    box: Box
    largest: float
    smallest: float
    lines: int = 1
    style: Style = ""
    wrap_below: float = 0.9
    align: str = "L"
    colour: int = 0


def parts(at: Box, *, qr: bool) -> dict[str, Part]:
    """A badge's texts by name (event, name, organisation, role), and its QR code's box."""
    k = at.h / 65.0  # the sizes below are for a 65 mm tall badge, scaled to this one
    pad = 5 * k
    x, y, inner = at.x + pad, at.y + pad, at.w - 2 * pad
    side = 21 * k if qr else 0.0
    text_w = inner - (side + 2 * k if qr else 0.0)
    return {
        "event": Part(Box(x, y, inner, 8 * k), 9 * k, 5.5 * k, 2, align="C", colour=_GREY),
        # The name is always the largest text: its floor is above the organisation's largest size.
        "name": Part(Box(x, y + 11 * k, inner, 23 * k), 26 * k, NAME_FLOOR * k, 3, "B", wrap_below=0.75, align="C"),
        "organisation": Part(Box(x, y + 35 * k, text_w, 11 * k), 11 * k, 7 * k, 2),
        "role": Part(Box(x, y + 47 * k, text_w, 7.5 * k), 9 * k, 6 * k, 2, colour=_GREY),
        "qr": Part(Box(at.x + at.w - pad - side, at.y + at.h - pad - side, side, side), 0, 0),
    }


def _badge(pdf: FPDF, setter: Setter, badge: Badge, at: Box) -> None:
    where = parts(at, qr=bool(badge.ticket))
    for key, text in (("event", badge.event), ("name", badge.name), ("organisation", badge.organisation), ("role", badge.role)):
        part = where[key]
        setter.put(
            text, part.box, largest=part.largest, smallest=part.smallest, lines=part.lines, style=part.style,
            wrap_below=part.wrap_below, align=part.align, valign="M" if part.align == "C" else "T", colour=part.colour,
        )
    rule = where["event"].box
    with pdf.local_context(draw_color=(170, 170, 170), line_width=0.2):
        pdf.line(rule.x, rule.y + rule.h + 1.5 * at.h / 65, rule.x + rule.w, rule.y + rule.h + 1.5 * at.h / 65)
    if badge.ticket:
        box = where["qr"].box
        draw_qr(pdf, badge.ticket, box.x, box.y, box.w)


def _marks(pdf: FPDF, at: Box) -> None:
    """Cutting marks: short lines on the lines of the badge's edges, just outside its corners."""
    near, far = _MARK_OFFSET, _MARK_OFFSET + _MARK_LENGTH
    with pdf.local_context(draw_color=(0, 0, 0), line_width=0.15):
        for cx, sx in ((at.x, -1), (at.x + at.w, 1)):
            for cy, sy in ((at.y, -1), (at.y + at.h, 1)):
                pdf.line(cx + sx * near, cy, cx + sx * far, cy)
                pdf.line(cx, cy + sy * near, cx, cy + sy * far)
