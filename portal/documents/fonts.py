"""The fonts the PDFs are drawn in, and a new PDF document set up to draw any script.

Names come in every script participants write, so the documents embed Google's Noto fonts from
Debian's packages, never from a CDN: fonts-noto-core (Noto Sans for Latin with Vietnamese,
Greek and Cyrillic; Arabic, Devanagari, Thai and the other scripts of South and South-East
Asia, Hebrew, Georgian, Armenian, Ethiopic) and fonts-noto-cjk (Chinese, Japanese, Korean: the
Simplified Chinese face of the Noto Sans CJK collection, which covers all three). fpdf2 shapes
the text with HarfBuzz (Arabic joined and right to left, Devanagari's conjuncts, Thai's marks)
and draws each run in the first font that has its characters (its fallback fonts).

A document registers only the fonts its text needs: fpdf2 embeds (subsets) every font
registered, and subsetting the CJK collection costs a few tenths of a second. Reading a font
(its character map and widths) is done once a process: each document gets a copy of the font
read then, sharing what drawing only reads, with a file handle of its own for the embedding,
which changes the font it works on.
"""

from __future__ import annotations

import copy
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fontTools import ttLib
from fpdf import FPDF
from fpdf.fonts import SubsetMap, TTFFont
from fpdf.unicode_script import UnicodeScript, get_unicode_script

from portal.errors import PortalError

CORE_PACKAGE = "fonts-noto-core"
CJK_PACKAGE = "fonts-noto-cjk"
# Where Debian's packages put them (read when a document is made, so a test can move them).
CORE_DIR = Path("/usr/share/fonts/truetype/noto")
CJK_DIR = Path("/usr/share/fonts/opentype/noto")

Style = Literal["", "B"]


class FontsMissing(PortalError):
    """The machine lacks the font packages the documents are drawn with."""

    status_code = 503
    title = "The fonts for PDF documents are not installed"


@dataclass(frozen=True)
class Face:
    """A typeface in regular and bold: fpdf2's family name for it, its files' names, the
    Debian package that has them, and the face's number in a collection (.ttc)."""

    family: str
    stem: str
    package: str = CORE_PACKAGE
    index: int = 0
    bold: bool = True  # whether bold text gets the bold face (else the regular one)

    def weight(self, style: Style) -> Style:
        """The face's style that text in `style` is drawn in."""
        return style if self.bold else ""

    def path(self, style: Style) -> Path:
        weight = "Bold" if self.weight(style) == "B" else "Regular"
        if self.package == CJK_PACKAGE:
            return CJK_DIR / f"{self.stem}-{weight}.ttc"
        return CORE_DIR / f"{self.stem}-{weight}.ttf"


LATIN = Face("noto-sans", "NotoSans")  # Latin (Vietnamese too), Greek, Cyrillic, and the common signs
# The collection's faces: 0 JP, 1 KR, 2 SC, 3 TC, 4 HK. One is chosen for every name, as a
# name's language is not known; each face has every character, with its region's glyph shapes.
# One weight, regular, for bold text too: each CJK face read costs some 25 MB, and 35 MB more
# while it is embedded, and a badge sheet with both would pass 200 MB.
CJK = Face("noto-cjk", "NotoSansCJK", CJK_PACKAGE, index=2, bold=False)
_U = UnicodeScript
_SCRIPTS: dict[UnicodeScript, Face] = {
    _U.ARABIC: Face("noto-arabic", "NotoSansArabic"),
    _U.DEVANAGARI: Face("noto-devanagari", "NotoSansDevanagari"),
    _U.THAI: Face("noto-thai", "NotoSansThai"),
    _U.HAN: CJK, _U.HIRAGANA: CJK, _U.KATAKANA: CJK, _U.HANGUL: CJK, _U.BOPOMOFO: CJK,
    _U.HEBREW: Face("noto-hebrew", "NotoSansHebrew"),
    _U.BENGALI: Face("noto-bengali", "NotoSansBengali"),
    _U.GURMUKHI: Face("noto-gurmukhi", "NotoSansGurmukhi"),
    _U.GUJARATI: Face("noto-gujarati", "NotoSansGujarati"),
    _U.ORIYA: Face("noto-oriya", "NotoSansOriya"),
    _U.TAMIL: Face("noto-tamil", "NotoSansTamil"),
    _U.TELUGU: Face("noto-telugu", "NotoSansTelugu"),
    _U.KANNADA: Face("noto-kannada", "NotoSansKannada"),
    _U.MALAYALAM: Face("noto-malayalam", "NotoSansMalayalam"),
    _U.SINHALA: Face("noto-sinhala", "NotoSansSinhala"),
    _U.LAO: Face("noto-lao", "NotoSansLao"),
    _U.KHMER: Face("noto-khmer", "NotoSansKhmer"),
    _U.MYANMAR: Face("noto-myanmar", "NotoSansMyanmar"),
    _U.GEORGIAN: Face("noto-georgian", "NotoSansGeorgian"),
    _U.ARMENIAN: Face("noto-armenian", "NotoSansArmenian"),
    _U.ETHIOPIC: Face("noto-ethiopic", "NotoSansEthiopic"),
}
_PICTOGRAPHS = 0x1F000  # from here on (emoji, pictographs), none of these faces has a glyph
_OWN_SCRIPT = frozenset({_U.COMMON, _U.INHERITED, _U.UNKNOWN, _U.LATIN, _U.GREEK, _U.CYRILLIC})


# --- reading a font, once a process ------------------------------------------------------------

_lock = threading.Lock()
# What a font read once a process does without: the outlines (the CJK collection's are 15 MB a
# face), which only the embedding reads, from a file of its own; the layout tables, which
# HarfBuzz reads from the file itself; and the character maps, but the one fpdf2 keeps.
_UNUSED_TABLES = frozenset({"CFF ", "CFF2", "glyf", "loca", "GSUB", "GPOS", "GDEF", "cmap"})
_read: dict[tuple[Path, int, str], TTFFont] = {}


class _DocumentFont(TTFFont):
    """A font read once a process, as one document uses it."""

    __slots__ = ()

    def close(self) -> None:
        """Called once the font is embedded: its tables can go before the next font's
        embedding reads its own (two CJK faces would otherwise be held at once)."""
        super().close()
        self.ttfont = None  # type: ignore[assignment]


def _missing(faces: Iterable[tuple[Face, Style]]) -> FontsMissing:
    wanted = sorted({(f.package, f.path(s).name) for f, s in faces})
    packages = " and ".join(sorted({p for p, _ in wanted}))
    files = ", ".join(name for _, name in wanted)
    return FontsMissing(
        f"The PDF cannot be made: this server lacks the fonts {files}. Install the Debian package"
        f"{'s' if ' and ' in packages else ''} {packages} (apt-get install {packages.replace(' and ', ' ')})."
    )


def _prototype(face: Face, style: Style) -> TTFFont:
    """The font as fpdf2 reads it (character map, widths, HarfBuzz face), read once a process."""
    style = face.weight(style)
    path = face.path(style)
    key = (path, face.index, style)
    found = _read.get(key)
    if found is not None:
        return found
    with _lock:
        found = _read.get(key)
        if found is None:
            if not path.is_file():
                raise _missing([(face, style)])
            reader = FPDF()
            reader.add_font(face.family, style, path, collection_font_number=face.index)
            found = reader.fonts[f"{face.family}{style}"]
            assert isinstance(found, TTFFont)
            # Read now what drawing reads (glyph names and widths, when shaping), so that
            # documents drawn at once in several threads only ever read the shared font.
            font = found.ttfont
            font.getGlyphOrder()
            # Shaping reads only each glyph's advance: one shared (advance, 0) pair per width
            # (a few hundred) rather than a pair per glyph (the CJK face's 65,000: 5 MB).
            metrics = font["hmtx"].metrics
            shared: dict[int, tuple[int, int]] = {}
            for name, (advance, _) in metrics.items():
                metrics[name] = shared.setdefault(advance, (advance, 0))
            for tag in _UNUSED_TABLES & set(font.keys()):
                del font[tag]
            # fontTools' map from glyph name to number: add_font needed it, drawing does not.
            vars(font).pop("_reverseGlyphOrderDict", None)
            _read[key] = found
    return found


def _install(pdf: FPDF, face: Face, style: Style) -> None:
    """Register the face in `pdf` as add_font would, from the font read once a process: a
    copy that shares what drawing only reads (the character map, widths, glyph names)."""
    if f"{face.family}{face.weight(style)}" in pdf.fonts:
        return
    font = copy.copy(_prototype(face, style))
    font.__class__ = _DocumentFont
    font.i = len(pdf.fonts) + 1
    font.missing_glyphs = []
    font.biggest_size_pt = 0
    # HarfBuzz's font is per document: shaping sets its size (ptem) before each run.
    font._hbfont = None
    font.subset = SubsetMap(font)
    pdf.fonts[font.fontkey] = font
    if font.is_cff and font.is_cid_keyed:
        pdf._set_min_pdf_version("1.6")


# --- which fonts a text needs ---------------------------------------------------------------


def _face_of(char: str) -> Face | None:
    script = get_unicode_script(char)
    if script in _OWN_SCRIPT:
        return None
    return _SCRIPTS.get(script)


def faces_for(texts: Iterable[str], style: Style = "") -> list[Face]:
    """The faces `texts` need, Noto Sans first; a sign Noto Sans lacks (CJK punctuation, an
    Arabic comma) brings the face that has it."""
    needed: dict[str, Face] = {LATIN.family: LATIN}
    latin = _prototype(LATIN, style).cmap
    for text in texts:
        for char in set(text):
            if ord(char) in latin:
                continue
            face = _face_of(char)
            if face is None:
                face = _common_sign_face(char, style, needed.values())
            if face is not None:
                needed.setdefault(face.family, face)
    return list(needed.values())


def _common_sign_face(char: str, style: Style, chosen: Iterable[Face]) -> Face | None:
    """The face for a sign of no one script that Noto Sans lacks: one already chosen if it
    has it, else the first that does (CJK last: it is the costliest to embed)."""
    code = ord(char)
    if code >= _PICTOGRAPHS:  # emoji and the like: no face here has them
        return None
    ordered = [*chosen, *dict.fromkeys(f for f in _SCRIPTS.values() if f is not CJK), CJK]
    for face in ordered:
        if face is LATIN:
            continue
        try:
            if code in _prototype(face, style).cmap:
                return face
        except FontsMissing:
            continue
    return None


# --- a document ------------------------------------------------------------------------------

# Format characters that change how the text around them is laid out (bidi overrides and
# isolates, which can reorder a line) or that nothing should show (BOM, soft hyphen); the
# joiners (U+200C, U+200D) stay: Devanagari, Persian and others need them.
_KEEP_FORMAT = frozenset("\u200c\u200d")


def plain(text: object) -> str:
    """Text as drawn: NFC (a decomposed Vietnamese name still finds its precomposed glyphs),
    control and format characters out (line breaks and tabs become spaces), spaces folded.
    Nothing is read as markup: the PDF draws it as it is."""
    out = []
    for char in unicodedata.normalize("NFC", str(text or "")):
        category = unicodedata.category(char)
        if category in ("Cc", "Zl", "Zp") or (category.startswith("Z") and char != " "):
            out.append(" ")
        elif category in ("Cf", "Cs", "Co", "Cn") and char not in _KEEP_FORMAT:
            continue
        else:
            out.append(char)
    return " ".join("".join(out).split())


def new_document(texts: Iterable[tuple[str, Style]], *, orientation: str = "portrait", format: str | tuple[float, float] = "A4") -> FPDF:
    """A PDF (mm units, no automatic page breaks or cell padding) with the fonts `texts` need
    registered, text shaping on, and Noto Sans set; `texts` are (text, style) pairs, as drawn.
    FontsMissing, with the packages to install, when a font file is not there."""
    by_style: dict[Style, set[str]] = {"": set(), "B": set()}
    for text, style in texts:
        by_style[style].add(text)
    pdf = FPDF(orientation=orientation, unit="mm", format=format)
    missing: list[tuple[Face, Style]] = []
    families: list[str] = []
    for style in ("", "B"):
        try:
            faces = faces_for(by_style[style], style) if style == "" or by_style[style] else []
        except FontsMissing:
            missing.append((LATIN, style))
            continue
        for face in faces:
            try:
                _install(pdf, face, style)
            except FontsMissing:
                missing.append((face, style))
                continue
            if face.family not in families:
                families.append(face.family)
    if missing:
        raise _missing(missing)
    pdf.set_text_shaping(True)
    # Not exact: bold text falls back to a face's regular weight where it has no bold (CJK).
    pdf.set_fallback_fonts(families[1:], exact_match=False)
    # A name that says "{nb}" is a name, not the number of pages.
    pdf.alias_nb_pages(None)
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    pdf.c_margin = 0
    pdf.set_font(LATIN.family, "", 10)
    pdf.set_creator("portal")
    return pdf


# A CID-keyed CFF font (the CJK collection's) is embedded as its CFF table alone: the other
# tables fontTools would decompile and subset first (the character map and the horizontal and
# vertical metrics, 65,000 glyphs each) are left out of the embedding's copy.
_CFF_ONLY = frozenset({"cmap", "OS/2", "hmtx", "vhea", "vmtx", "VORG", "BASE", "GSUB", "GPOS", "GDEF"})


def finish(pdf: FPDF) -> bytes:
    """The document's bytes. Embedding subsets each font in place, so each embeds from a font
    file opened afresh for it, not from the copy read once a process."""
    for font in pdf.fonts.values():
        if isinstance(font, TTFFont):
            fresh = ttLib.TTFont(font.ttffile, recalcTimestamp=False, fontNumber=font.collection_font_number, lazy=True)
            if font.is_cff and font.is_cid_keyed:
                for tag in _CFF_ONLY & set(fresh.keys()):
                    del fresh[tag]
            font.ttfont = fresh
    return bytes(pdf.output())
