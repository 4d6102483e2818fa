"""Reading back the PDFs the portal draws: their text, their embedded fonts, and their QR codes.

Text comes back through pypdf, which returns shaped scripts a little differently from how they
were typed: the words of an Arabic line in the order they are drawn (right to left), a stray
control character or space where a vowel sign is drawn before its consonant (Devanagari), NUL
bytes between the characters of a CJK font's two-byte codes. `contains` compares with those
set aside: NFKC, no control or format characters, no spaces, and an Arabic name's words in
either order.

A QR code is drawn as filled rectangles (documents.typeset.draw_qr): `qr_texts` paints every
filled rectangle of a page onto an image, as a renderer would, and decodes what it finds with
zxing-cpp. No PDF renderer is needed.
"""

from __future__ import annotations

import io
import unicodedata

import pypdf
import zxingcpp
from PIL import Image, ImageDraw

SIX_SCRIPTS = {
    "Chinese": "王小明",
    "Thai": "สมชาย ใจดี",
    "Vietnamese": "Nguyễn Thị Minh Khai",
    "Arabic": "محمد بن سلمان",
    "Devanagari": "अनिल कुमार",
    "Cyrillic": "Александр Пушкин",
}


def reader(pdf: bytes) -> pypdf.PdfReader:
    assert pdf.startswith(b"%PDF-"), pdf[:20]
    return pypdf.PdfReader(io.BytesIO(pdf))


def squash(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return "".join(c for c in text if not c.isspace() and not unicodedata.category(c).startswith("C"))


def contains(extracted: str, text: str) -> bool:
    """Whether `text` came back in the extracted text, in reading or in drawing order."""
    words = text.split()
    return any(squash(candidate) in squash(extracted) for candidate in (text, " ".join(reversed(words))))


def page_texts(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in reader(pdf).pages]


def embedded_fonts(pdf: bytes) -> set[str]:
    """The base names of the fonts the pages use, without the subset prefix."""
    names = set()
    for page in reader(pdf).pages:
        fonts = page["/Resources"].get("/Font", {})
        for ref in fonts.values():
            names.add(str(ref.get_object()["/BaseFont"]).split("+", 1)[-1])
    return names


def page_sizes(pdf: bytes) -> list[tuple[float, float]]:
    """Each page's width and height in millimetres, to a tenth."""
    return [(round(float(p.mediabox.width) * 25.4 / 72, 1), round(float(p.mediabox.height) * 25.4 / 72, 1)) for p in reader(pdf).pages]


def qr_texts(pdf: bytes, page: int = 0, scale: float = 3.0) -> list[str]:
    """What the QR codes drawn on a page say, sorted."""
    found = reader(pdf).pages[page]
    height = float(found.mediabox.height)
    image = Image.new("L", (int(float(found.mediabox.width) * scale), int(height * scale)), 255)
    draw = ImageDraw.Draw(image)
    pending: list[list[float]] = []
    for operands, operator in found.get_contents().operations:
        if operator == b"re":
            pending.append([float(v) for v in operands])
        elif operator in (b"f", b"F", b"f*"):
            for x, y, w, h in pending:
                left, right = sorted((x, x + w))
                low, high = sorted((y, y + h))
                draw.rectangle([left * scale, (height - high) * scale, right * scale, (height - low) * scale], fill=0)
            pending = []
        elif operator in (b"S", b"s", b"n", b"B", b"b"):
            pending = []
    return sorted(result.text for result in zxingcpp.read_barcodes(image))


def font_sizes(pdf: bytes, page: int = 0) -> list[float]:
    """The sizes of the fonts set on a page (Tf), in order."""
    return [float(operands[1]) for operands, operator in reader(pdf).pages[page].get_contents().operations if operator == b"Tf"]


def segments(pdf: bytes, page: int = 0) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """The straight lines stroked on a page (m, l), in millimetres from the top left corner."""
    found = reader(pdf).pages[page]
    height = float(found.mediabox.height)
    mm = 25.4 / 72

    def point(operands: list[object]) -> tuple[float, float]:
        return round(float(operands[0]) * mm, 2), round((height - float(operands[1])) * mm, 2)  # type: ignore[arg-type]

    lines, start = [], None
    for operands, operator in found.get_contents().operations:
        if operator == b"m":
            start = point(operands)
        elif operator == b"l" and start is not None:
            lines.append((start, point(operands)))
    return lines
