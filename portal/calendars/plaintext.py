"""Organiser-written Markdown as plain text, for places that cannot show HTML: iCalendar
DESCRIPTION, the Atom summary, structured data and calendar links."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.token import Token

# The same dialect the event page renders (portal/templating.py), so the plain text says
# what the page says. Raw HTML is off: anything that looks like a tag stays as typed.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")

_BLANK_RUNS = re.compile(r"\n{3,}")
# C0 controls other than tab and newline, DEL, and the C1 range: none belongs in a calendar or
# an XML document, and XML 1.0 forbids most of them outright.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_line(text: str) -> str:
    """One line of text with control characters dropped and runs of whitespace collapsed."""
    return " ".join(_CONTROL.sub("", text).split())


def _inline(children: Sequence[Token] | None) -> str:
    parts: list[str] = []
    hrefs: list[tuple[str, int]] = []
    for child in children or ():
        kind = child.type
        if kind in ("text", "code_inline"):
            parts.append(child.content)
        elif kind in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif kind == "image":
            parts.append(child.content)
        elif kind == "link_open":
            hrefs.append((str(child.attrGet("href") or ""), len(parts)))
        elif kind == "link_close" and hrefs:
            href, start = hrefs.pop()
            label = "".join(parts[start:]).strip()
            # A bare URL written as a link says itself; a named link needs its address spelt out.
            if href and href not in (label, f"mailto:{label}"):
                parts.append(f" ({href})")
    return "".join(parts)


# Kept by text: a conference's feed turns each session's Markdown again whenever every block
# is made (its event renamed), and the text has not changed. Bounded: 512 descriptions.
@lru_cache(maxsize=512)
def plain_text(markdown: str | None) -> str:
    """Markdown as readable plain text: paragraphs kept apart, list items marked, link
    addresses spelt out after their words, emphasis and headings reduced to their words."""
    if not markdown or not markdown.strip():
        return ""
    lines: list[str] = []
    lists: list[int | None] = []  # one entry per open list: None for bullets, else the next number
    marker = ""
    row: list[str] | None = None
    for token in _markdown.parse(_CONTROL.sub("", markdown.replace("\r\n", "\n"))):
        kind = token.type
        if kind == "bullet_list_open":
            lists.append(None)
        elif kind == "ordered_list_open":
            lists.append(int(token.attrGet("start") or 1))
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            if not lists:
                lines.append("")
        elif kind == "list_item_open":
            number = lists[-1]
            marker = "  " * (len(lists) - 1) + ("- " if number is None else f"{number}. ")
            if number is not None:
                lists[-1] = number + 1
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close" and row is not None:
            lines.append(" | ".join(row))
            row = None
        elif kind == "table_close":
            lines.append("")
        elif kind == "inline":
            text = _inline(token.children).strip()
            if row is not None:
                row.append(" ".join(text.split()))
                continue
            indent = "  " * len(lists)
            if marker:
                text, marker = marker + text, ""
            elif lists:
                text = indent + text
            lines.append(text.replace("\n", "\n" + indent) if lists else text)
        elif kind in ("fence", "code_block"):
            lines.append(token.content.rstrip("\n"))
            lines.append("")
        elif kind == "hr":
            lines.append("* * *")
            lines.append("")
        elif kind in ("paragraph_close", "heading_close") and not token.hidden:
            lines.append("")
    text = "\n".join(line.rstrip() for line in lines)
    return _BLANK_RUNS.sub("\n\n", text).strip()


def shorten(text: str, limit: int) -> str:
    """Cut text at a word boundary to at most `limit` characters, marking the cut with '…'."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-\n") + "…"
