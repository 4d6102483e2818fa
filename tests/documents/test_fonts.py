"""The fonts: chosen by script, read once a process, and a clear message when they are missing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from fpdf.fonts import TTFFont

from portal.documents import fonts
from portal.documents.badges import Badge, badges_pdf
from portal.documents.certificates import certificate_pdf
from portal.documents.fonts import CJK, LATIN, FontsMissing, faces_for, new_document, plain
from tests.documents.reading import SIX_SCRIPTS, contains, page_texts


def families(*texts: str) -> list[str]:
    return [f.family for f in faces_for(texts)]


def test_each_script_brings_its_face_and_latin_cyrillic_vietnamese_need_none():
    assert families(SIX_SCRIPTS["Vietnamese"], SIX_SCRIPTS["Cyrillic"], "Ελληνικά", "Zoë Ødegård") == ["noto-sans"]
    assert families(SIX_SCRIPTS["Chinese"]) == ["noto-sans", "noto-cjk"]
    assert families("たなか", "김민준") == ["noto-sans", "noto-cjk"]
    assert families(SIX_SCRIPTS["Thai"]) == ["noto-sans", "noto-thai"]
    assert families(SIX_SCRIPTS["Arabic"]) == ["noto-sans", "noto-arabic"]
    assert families(SIX_SCRIPTS["Devanagari"]) == ["noto-sans", "noto-devanagari"]
    assert families("שלום", "தமிழ்") == ["noto-sans", "noto-hebrew", "noto-tamil"]
    # A sign of no one script that Noto Sans lacks brings the face that has it.
    assert families("「」。") == ["noto-sans", "noto-cjk"]


def test_plain_takes_out_what_would_reorder_or_hide_text():
    assert plain("  Ada\tLovelace\r\n ") == "Ada Lovelace"
    assert plain("a\u202eb\u2066c\u200fd\u00ade") == "abcde"  # bidi overrides and isolates, marks, soft hyphen
    assert plain("x\x00y\x07z\x7f") == "x y z"  # a control character is a space
    assert plain("क्\u200dष <b>") == "क्\u200dष <b>"  # the joiners stay, markup is text
    assert plain("Nguye\u0302\u0303n") == "Nguyễn"  # decomposed Vietnamese, composed
    assert plain(None) == "" and plain(42) == "42"


def test_fonts_are_read_once_a_process(monkeypatch):
    badges_pdf([Badge(SIX_SCRIPTS["Chinese"], "Org"), Badge(SIX_SCRIPTS["Thai"])])
    reads = []
    original = TTFFont.__init__

    def counting(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(args[1])
        original(self, *args, **kwargs)

    monkeypatch.setattr(TTFFont, "__init__", counting)
    again = badges_pdf([Badge(SIX_SCRIPTS["Chinese"], "Org"), Badge(SIX_SCRIPTS["Thai"])])
    assert reads == []
    # The second document embeds its fonts from files of its own, whole.
    text = page_texts(again)[0]
    assert contains(text, SIX_SCRIPTS["Chinese"]) and contains(text, SIX_SCRIPTS["Thai"])


def test_documents_drawn_at_once_in_threads_are_whole():
    names = list(SIX_SCRIPTS.values())

    def draw(n: int) -> bytes:
        return certificate_pdf({"name": names[n % 6], "event": "Event", "issuer": "RSIS"}, f"CODE{n:08d}", f"https://x.org/c/{n}")

    with ThreadPoolExecutor(4) as pool:
        pdfs = list(pool.map(draw, range(12)))
    for n, pdf in enumerate(pdfs):
        assert contains(page_texts(pdf)[0], names[n % 6]), n


def test_missing_core_fonts_are_named_with_their_package(monkeypatch, tmp_path):
    monkeypatch.setattr(fonts, "CORE_DIR", tmp_path)
    with pytest.raises(FontsMissing) as refused:
        badges_pdf([Badge("Ada Lovelace")])
    assert "fonts-noto-core" in refused.value.message and "NotoSans-Regular.ttf" in refused.value.message
    assert refused.value.status_code == 503


def test_missing_cjk_fonts_are_named_and_spare_the_other_scripts(monkeypatch, tmp_path):
    monkeypatch.setattr(fonts, "CJK_DIR", tmp_path)
    assert badges_pdf([Badge(SIX_SCRIPTS["Thai"])]).startswith(b"%PDF")
    with pytest.raises(FontsMissing) as refused:
        badges_pdf([Badge(SIX_SCRIPTS["Chinese"])])
    assert "apt-get install fonts-noto-cjk" in refused.value.message
    assert "fonts-noto-core" not in refused.value.message


def test_a_new_document_is_set_up_for_any_script():
    pdf = new_document([("王 ก", ""), ("محمد", "B")])
    assert pdf.text_shaping is not None
    assert set(pdf.fonts) == {"noto-sans", "noto-cjk", "noto-thai", "noto-sansB", "noto-arabicB"}
    assert LATIN.path("B").name == "NotoSans-Bold.ttf" and CJK.path("B").name == "NotoSansCJK-Regular.ttc"
