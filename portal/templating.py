"""The Jinja2 environment and its filters: times in the event's zone, always with the zone named."""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")

# What organiser-written Markdown may become. Raw HTML is off in the parser already; nh3 is
# the second line, and forces rel="noopener noreferrer nofollow" on links.
_ALLOWED_TAGS = {
    "p", "br", "strong", "em", "a", "ul", "ol", "li", "blockquote", "code", "pre",
    "h2", "h3", "h4", "hr", "table", "thead", "tbody", "tr", "th", "td",
}


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def localtime(value: datetime | None, tz: str, fmt: str = "%a %-d %b %Y, %H:%M") -> str:
    """A UTC time shown in the zone `tz`, with the zone's abbreviation (e.g. '+08' or 'GMT')."""
    if value is None:
        return ""
    local = value.astimezone(zone(tz))
    return f"{local.strftime(fmt)} {zone_label(local, tz)}"


def zone_label(local: datetime, tz: str) -> str:
    abbrev = local.strftime("%Z")
    # zoneinfo gives numeric abbreviations such as "+08" for many zones: name the zone instead.
    if abbrev.startswith(("+", "-")):
        return f"({tz.replace('_', ' ')}, UTC{abbrev})"
    return f"{abbrev} ({tz.replace('_', ' ')})"


def local_date(value: datetime | None, tz: str, fmt: str = "%-d %b %Y") -> str:
    if value is None:
        return ""
    return value.astimezone(zone(tz)).strftime(fmt)


def date_range(start: datetime, end: datetime, tz: str, all_day: bool = False) -> str:
    """'Mon 8 Mar 2027, 09:00 – 17:00 (Asia/Singapore, UTC+08)' or a multi-day span, zone named."""
    s = start.astimezone(zone(tz))
    e = end.astimezone(zone(tz))
    label = zone_label(s, tz)
    if all_day:
        if s.date() == e.date():
            return s.strftime("%a %-d %b %Y")
        return f"{s.strftime('%a %-d %b')} – {e.strftime('%a %-d %b %Y')}"
    if s.date() == e.date():
        return f"{s.strftime('%a %-d %b %Y, %H:%M')} – {e.strftime('%H:%M')} {label}"
    return f"{s.strftime('%a %-d %b %Y, %H:%M')} – {e.strftime('%a %-d %b %Y, %H:%M')} {label}"


def iso(value: datetime | None) -> str:
    # Whole seconds: HTML's datetime attribute allows at most three digits of a fraction.
    return value.isoformat(timespec="seconds") if value else ""


def markdown(text: str | None) -> Markup:
    """Organiser-written Markdown as sanitised HTML."""
    if not text:
        return Markup("")
    html = _markdown.render(text)
    return Markup(nh3.clean(html, tags=_ALLOWED_TAGS, link_rel="noopener noreferrer nofollow"))


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


@jinja2.pass_context
def public_url(context: Any, name: str, /, **params: Any) -> str:
    """An absolute URL on PORTAL_BASE_URL, for links that leave the browser (calendar apps,
    structured data): never built from the Host header a request happened to carry."""
    return context["request"].app.state.site.url(name, **params)


def webcal(url: str) -> str:
    """The same feed as a webcal:// link, which offers to subscribe rather than download."""
    return re.sub(r"^https?://", "webcal://", str(url))


def _without_nul(value: Any) -> Any:
    return value.replace("\x00", "\ufffd") if isinstance(value, str) and "\x00" in value else value


def make_environment(directory: Path = TEMPLATES_DIR) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory),
        autoescape=jinja2.select_autoescape(["html", "xml"], default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        # Nothing shown may carry a NUL: a refused answer is shown again as typed, and a NUL
        # in it would make the page invalid HTML. Markup.replace keeps Markup.
        finalize=_without_nul,
    )
    env.filters.update(
        localtime=localtime,
        local_date=local_date,
        date_range=date_range,
        iso=iso,
        markdown=markdown,
        webcal=webcal,
    )
    env.globals.update(
        plural=plural,
        public_url=public_url,
    )
    return env
