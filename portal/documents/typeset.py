"""Setting text in a box: the largest size at which it fits, on one line or wrapped onto a few,
never past the box's edges; and QR codes drawn as squares (vector, sharp at any size).

Widths are measured as fpdf2 draws them (shaped by HarfBuzz, in the fallback fonts), once at a
reference size: a shaped line's width grows in proportion to its size. A text too long to fit
at the smallest size allowed is cut, with an ellipsis, rather than drawn past the box.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import segno
from fpdf import FPDF
from fpdf.unicode_script import UnicodeScript, get_unicode_script

from portal.documents.fonts import LATIN, Style, plain

PT = 25.4 / 72  # millimetres in a point
LEADING = 1.2  # line height, as a multiple of the size
QR_BORDER = 4  # the quiet zone round a QR code, in modules: what the QR standard asks for
_REFERENCE = 10.0  # points: the size widths are measured at
_ELLIPSIS = "…"
# Written without spaces between words: a line may break between any two of these.
_UNSPACED = frozenset({UnicodeScript.HAN, UnicodeScript.HIRAGANA, UnicodeScript.KATAKANA})
Colour = int | tuple[int, int, int]  # a grey level (0 black, 255 white) or red, green, blue


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class Fitted:
    """Text set for a box: its lines and size (points); `cut` when it had to be shortened."""

    lines: tuple[str, ...]
    size: float
    style: Style = ""
    cut: bool = False

    @property
    def line_height(self) -> float:
        return self.size * PT * LEADING


def _unspaced(char: str) -> bool:
    return get_unicode_script(char) in _UNSPACED


def _pieces(text: str) -> list[tuple[str, bool]]:
    """What a line may break between, each with whether a space comes before it: the words, and
    each character of Chinese or Japanese, written without spaces."""
    pieces: list[tuple[str, bool]] = []
    for index, word in enumerate(text.split(" ")):
        spaced = index > 0
        run = ""
        for char in word:
            if _unspaced(char):
                if run:
                    pieces.append((run, spaced))
                    spaced, run = False, ""
                pieces.append((char, spaced))
                spaced = False
            else:
                run += char
        if run:
            pieces.append((run, spaced))
    return pieces


def _join(pieces: list[tuple[str, bool]]) -> str:
    return "".join((" " if spaced and i else "") + piece for i, (piece, spaced) in enumerate(pieces))


def _wrap(pieces: list[tuple[str, bool]], widths: list[float], space: float, limit: float) -> list[list[tuple[str, bool]]]:
    """Greedy line filling: each line takes pieces while they fit in `limit` (a lone piece
    wider than it has a line of its own)."""
    lines: list[list[tuple[str, bool]]] = []
    line: list[tuple[str, bool]] = []
    used = 0.0
    for piece, width in zip(pieces, widths, strict=True):
        extra = width + (space if piece[1] and line else 0.0)
        if line and used + extra > limit:
            lines.append(line)
            line, used = [piece], width
        else:
            line.append(piece)
            used += extra
    if line:
        lines.append(line)
    return lines


def _rtl(text: str) -> bool:
    """Whether the text reads right to left: its first letter that has a direction does."""
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL"):
            return True
        if kind == "L":
            return False
    return False


class Setter:
    """Measures and draws text in one document, remembering what it measured and fitted (an
    event's title is on every badge)."""

    def __init__(self, pdf: FPDF) -> None:
        self.pdf = pdf
        self._widths: dict[tuple[str, Style], float] = {}
        self._fits: dict[tuple[object, ...], Fitted] = {}

    def width(self, text: str, style: Style = "") -> float:
        """The text's width in millimetres at one point."""
        key = (text, style)
        found = self._widths.get(key)
        if found is None:
            self.pdf.set_font(LATIN.family, style, _REFERENCE)
            found = self._widths[key] = self.pdf.get_string_width(text) / _REFERENCE
        return found

    def fit(
        self, text: object, box: Box, *, largest: float, smallest: float, lines: int = 1, style: Style = "",
        wrap_below: float = 0.75,
    ) -> Fitted:
        """The largest size (at most `largest`) at which the text fits the box: on one line if
        that is at least `wrap_below` of `largest`, else on two lines if that is larger; a
        third line (up to `lines`) only when the fewer would be under `smallest` or it makes
        the text larger by more than 1/`wrap_below`; at `smallest`, cut with an ellipsis if it
        still does not fit."""
        shown = plain(text)
        key = (shown, box.w, box.h, largest, smallest, lines, style, wrap_below)
        found = self._fits.get(key)
        if found is None:
            found = self._fits[key] = self._fit(shown, box, largest, smallest, lines, style, wrap_below)
        return found

    def _fit(self, text: str, box: Box, largest: float, smallest: float, most: int, style: Style, wrap_below: float) -> Fitted:
        if not text:
            return Fitted((), largest, style)
        tallest = box.h / (PT * LEADING)  # the size of one line as tall as the box
        one = min(largest, tallest, box.w / max(self.width(text, style), 1e-9))
        best = Fitted((text,), one, style)
        if most > 1 and one < largest * wrap_below:
            for count in range(2, most + 1):
                wrapped = self._wrapped(text, box, largest, smallest, count, style)
                if wrapped is None or wrapped.size <= best.size:
                    continue
                if count == 2 or best.size < smallest or best.size < wrapped.size * wrap_below:
                    best = wrapped
        if best.size >= smallest:
            return best
        return self._cut(text, box, smallest, min(most, max(1, int(tallest // smallest))), style)

    def _wrapped(self, text: str, box: Box, largest: float, smallest: float, most: int, style: Style) -> Fitted | None:
        pieces = _pieces(text)
        if len(pieces) < 2:
            return None
        widths = [self.width(p, style) for p, _ in pieces]
        space = self.width(" ", style)

        def lines_at(size: float) -> list[list[tuple[str, bool]]] | None:
            found = _wrap(pieces, widths, space, box.w / size)
            if len(found) > most or len(found) * size * PT * LEADING > box.h:
                return None
            return found

        low, high = smallest / 2, largest
        if lines_at(high) is not None:
            low = high
        else:
            for _ in range(14):
                middle = (low + high) / 2
                if lines_at(middle) is None:
                    high = middle
                else:
                    low = middle
        found = lines_at(low)
        if found is None:
            return None
        texts = tuple(_join(line) for line in found)
        # Measured whole, a line may come out a little wider than its pieces added up (kerning
        # across a space): the size is then brought down to the widest line's.
        size = min([low] + [box.w / max(self.width(t, style), 1e-9) for t in texts])
        return Fitted(texts, size, style)

    def _cut(self, text: str, box: Box, size: float, most: int, style: Style) -> Fitted:
        """The text at `size` on up to `most` lines, the last cut short with an ellipsis."""
        limit = box.w / size
        lines: list[str] = []
        rest = text
        while rest and len(lines) < most - 1:
            line, rest = self._first_line(rest, limit, style)
            lines.append(line)
        if rest:
            lines.append(self._longest(rest, limit, style, _ELLIPSIS))
        return Fitted(tuple(lines), size, style, cut=True)

    def _first_line(self, text: str, limit: float, style: Style) -> tuple[str, str]:
        """The whole pieces from the start of `text` that fit `limit`, and what is left; a
        first piece too wide is broken between characters."""
        pieces = _pieces(text)
        taken = 0
        while taken < len(pieces) and self.width(_join(pieces[: taken + 1]), style) <= limit:
            taken += 1
        if taken:
            return _join(pieces[:taken]), _join(pieces[taken:])
        head = self._longest(pieces[0][0], limit, style, "")
        return head, _join([(pieces[0][0][len(head):], False), *pieces[1:]])

    def _longest(self, text: str, limit: float, style: Style, mark: str) -> str:
        """`text` if it fits `limit` (at one point), else its longest start that fits with
        `mark` after it, cut between characters, never before a combining mark."""
        if self.width(text, style) <= limit:
            return text
        cuts = [i for i in range(1, len(text)) if not unicodedata.category(text[i]).startswith("M")]
        low, high, best = 0, len(cuts) - 1, text[:1] + mark
        while low <= high:
            middle = (low + high) // 2
            candidate = text[: cuts[middle]].rstrip() + mark
            if self.width(candidate, style) <= limit:
                best, low = candidate, middle + 1
            else:
                high = middle - 1
        return best

    def draw(self, fitted: Fitted, box: Box, *, align: str = "C", valign: str = "M", colour: Colour = 0) -> None:
        """Draw fitted text in the box: centred, or starting at the left ("L") edge, which is
        the right edge for right-to-left text. `colour`: a grey level (0 black) or RGB."""
        height = fitted.line_height * len(fitted.lines)
        y = {"T": box.y, "B": box.y + box.h - height}.get(valign, box.y + (box.h - height) / 2)
        for line in fitted.lines:
            # Each line in its own graphics state: a line that ends in a fallback font leaves
            # that font set in the PDF, which fpdf2 does not know to change back.
            with self.pdf.local_context():
                self.pdf.set_font(LATIN.family, fitted.style, fitted.size)
                self.pdf.set_text_color(*colour) if isinstance(colour, tuple) else self.pdf.set_text_color(colour)
                self.pdf.set_xy(box.x, y)
                self.pdf.cell(w=box.w, h=fitted.line_height, text=line, align="R" if align == "L" and _rtl(line) else align)
            y += fitted.line_height

    def put(self, text: object, box: Box, *, align: str = "C", valign: str = "M", colour: Colour = 0, **fit: object) -> Fitted:
        """Fit the text to the box and draw it there."""
        fitted = self.fit(text, box, **fit)  # type: ignore[arg-type]
        self.draw(fitted, box, align=align, valign=valign, colour=colour)
        return fitted


def draw_qr(pdf: FPDF, text: str, x: float, y: float, size: float) -> None:
    """A QR code of `text` (error correction M, quiet zone included) as a size × size square
    with its top left corner at (x, y): one filled rectangle per run of dark modules in a row."""
    matrix = segno.make(text, error="m", micro=False).matrix
    module = size / (len(matrix) + 2 * QR_BORDER)
    with pdf.local_context(fill_color=(0, 0, 0)):
        for r, row in enumerate(matrix):
            top = y + (QR_BORDER + r) * module
            c, width = 0, len(row)
            while c < width:
                if not row[c]:
                    c += 1
                    continue
                start = c
                while c < width and row[c]:
                    c += 1
                # A hair taller than a module, so that renderers leave no seam between rows.
                pdf.rect(x + (QR_BORDER + start) * module, top, (c - start) * module, module * 1.02, style="F")
