"""The organisation's favicon and logo, from PORTAL_BRANDING_DIR (never a CDN): read and
checked once at start, served from memory with a day's cache.

SVG is served as image/svg+xml, because an organisation's logo is usually vector art and
stays sharp at any size. An SVG may hold script, which runs when the file is opened on its
own (not through <img> or a favicon link, where browsers never run it), so every SVG goes out
with the site's policy and `sandbox` (no script runs), and nosniff."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from portal.errors import NotFound
from portal.settings import DEFAULT_BRANDING_DIR, SettingsError
from portal.web.plumbing import etag_matches, public_route
from portal.web.security import CSP

# What may be in the directory, each with the type it is served as and how it must begin.
KINDS = {
    "favicon.svg": "image/svg+xml",
    "favicon.ico": "image/x-icon",
    "logo.svg": "image/svg+xml",
    "logo.png": "image/png",
}
_SIGNATURES = {"image/x-icon": (b"\x00\x00\x01\x00",), "image/png": (b"\x89PNG\r\n\x1a\n",)}
_WHAT = {"image/svg+xml": "an SVG", "image/x-icon": "an ICO", "image/png": "a PNG"}
MAX_BYTES = 500_000
# A browser keeps them a day; the pages link them with their fingerprint, so a new file is
# fetched at once after a restart.
CACHE_CONTROL = "public, max-age=86400"
# An SVG opened at its own address: the site's CSP (security.py), and `sandbox` without
# allow-scripts, so no script in it runs at all, not even one of the portal's own. In an <img>
# or as a favicon, browsers run no script in it anyway.
SVG_POLICY = f"{CSP}; sandbox"


@dataclass(frozen=True)
class BrandFile:
    name: str
    content: bytes = field(repr=False)
    media_type: str
    version: str  # the start of its SHA-256: in the links, and its ETag


@dataclass(frozen=True)
class Branding:
    files: dict[str, BrandFile]

    @property
    def logo(self) -> BrandFile | None:
        return self.files.get("logo.svg") or self.files.get("logo.png")

    @property
    def favicon(self) -> BrandFile | None:
        """What /favicon.ico answers with: the .ico, else the SVG (browsers go by the type)."""
        return self.files.get("favicon.ico") or self.files.get("favicon.svg")


def load_branding(directory: Path) -> Branding:
    """The files of `directory`, checked; the favicon falls back to the portal's own when the
    directory has neither favicon file."""
    files = {name: read_file(directory / name, media_type) for name, media_type in KINDS.items() if (directory / name).is_file()}
    if not any(name.startswith("favicon.") for name in files):
        for name in ("favicon.svg", "favicon.ico"):
            if (DEFAULT_BRANDING_DIR / name).is_file():
                files[name] = read_file(DEFAULT_BRANDING_DIR / name, KINDS[name])
    return Branding(files)


def read_file(path: Path, media_type: str) -> BrandFile:
    content = path.read_bytes()
    if len(content) > MAX_BYTES:
        raise SettingsError(f"PORTAL_BRANDING_DIR: {path.name} is {len(content):,} bytes; keep it under {MAX_BYTES:,}")
    if media_type == "image/svg+xml":
        looks_right = content.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<") and b"<svg" in content
    else:
        looks_right = content.startswith(_SIGNATURES[media_type])
    if not looks_right:
        raise SettingsError(f"PORTAL_BRANDING_DIR: {path.name} is not {_WHAT[media_type]} file")
    return BrandFile(path.name, content, media_type, hashlib.sha256(content).hexdigest()[:12])


def _send(request: Request, brand: BrandFile) -> Response:
    headers = {"Cache-Control": CACHE_CONTROL, "ETag": f'"{brand.version}"'}
    if brand.media_type == "image/svg+xml":
        headers["Content-Security-Policy"] = SVG_POLICY
    if etag_matches(request, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    return Response(brand.content, media_type=brand.media_type, headers=headers)


async def show_favicon(request: Request) -> Response:
    brand = request.app.state.branding.favicon
    if brand is None:
        raise NotFound("This site has no favicon.")
    return _send(request, brand)


async def show_brand_file(request: Request) -> Response:
    brand = request.app.state.branding.files.get(request.path_params["name"])
    if brand is None:
        raise NotFound("There is nothing at this address.")
    return _send(request, brand)


routes = [
    public_route("show_favicon", show_favicon),
    public_route("show_brand_file", show_brand_file),
]
