"""QR codes drawn on the server (segno): inline SVG for pages, PNG for emails and PDFs.

Error correction M at least (segno raises it when the same size allows more), and the quiet
zone of four modules kept: phone cameras and door scanners need that white margin. Always
dark on a white ground, whatever the page's colours (a dark theme would otherwise invert it).
"""

from __future__ import annotations

import html
import io

import segno

BORDER = 4  # the quiet zone, in modules: what the QR standard asks for


def _make(text: str) -> segno.QRCode:
    return segno.make(text, error="m", micro=False)


def svg(text: str, *, title: str = "QR code") -> str:
    """The QR code of `text` as SVG markup to put in an HTML page: it scales with the page
    (viewBox, no fixed size), and is an image named `title` to screen readers."""
    markup: str = _make(text).svg_inline(
        scale=1, border=BORDER, omitsize=True, dark="#000", light="#fff", title=title, svgclass="qr-code", lineclass=None,
    )
    # segno escapes the title inside <title>; the label goes in an attribute, escaped here.
    return markup.replace("<svg ", f'<svg role="img" aria-label="{html.escape(title, quote=True)}" ', 1)


def png(text: str, scale: int = 8) -> bytes:
    """The QR code of `text` as a PNG, `scale` pixels a module, quiet zone included."""
    out = io.BytesIO()
    _make(text).save(out, kind="png", scale=scale, border=BORDER, dark="#000", light="#fff")
    return out.getvalue()
