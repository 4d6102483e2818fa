"""Speakers' photos: what a file is (read from its bytes, never its name or the type the
browser claims), made small on the server (at most 400 × 400, turned upright as its EXIF
says), and written again as a JPEG, which leaves every piece of metadata behind (camera,
place, time). Kept under PORTAL_UPLOAD_DIR/speakers/ with a random name ending in .jpg,
readable by the portal's user only; Speaker.photo holds the name. The public speaker page
serves it from `path_of`.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from pathlib import Path

import filetype
from PIL import Image, ImageOps, UnidentifiedImageError

from portal.errors import InvalidInput, NotFound
from portal.registrations import uploads

log = logging.getLogger("portal.photos")

SUBDIRECTORY = "speakers"
MAX_SIDE = 400
# What a photo may be sent as, and how large (before it is made small).
ACCEPT = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "image/gif": "GIF"}
MAX_BYTES = 10_000_000
# Past this many pixels a small file could unpack into gigabytes (a "decompression bomb").
MAX_PIXELS = 40_000_000
JPEG_QUALITY = 85
# token_urlsafe(24) and the extension: checked before a name becomes a path, so no name can
# climb out of the directory.
_NAME = re.compile(r"^[A-Za-z0-9_-]{32}\.jpg$")


class PhotoProblem(InvalidInput):
    """A file that cannot be a speaker's photo, and why, in words."""


def directory_of(upload_directory: Path) -> Path:
    return upload_directory / SUBDIRECTORY


def path_of(upload_directory: Path, name: str) -> Path:
    """Where a stored photo lies; NotFound for a name the portal could not have given."""
    if not _NAME.match(name or ""):
        raise NotFound("There is no such photo.")
    return directory_of(upload_directory) / name


def prepare(content: bytes) -> bytes:
    """The photo as the portal keeps it: a JPEG at most MAX_SIDE on each side, without
    metadata. PhotoProblem says what is wrong with a file that cannot be one."""
    if not content:
        raise PhotoProblem("The file is empty: choose a photo (JPEG, PNG, WebP or GIF).")
    if len(content) > MAX_BYTES:
        raise PhotoProblem(f"The photo is larger than {MAX_BYTES // 1_000_000} MB: send a smaller one.")
    kind = filetype.guess_mime(content)
    if kind not in ACCEPT:
        raise PhotoProblem("This file is not a photo the portal can use: send a JPEG, PNG, WebP or GIF image.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(content), formats=[ACCEPT[kind]])
            if image.width * image.height > MAX_PIXELS:
                raise PhotoProblem("The photo has too many pixels: send one of at most 40 megapixels.")
            image.draft("RGB", (MAX_SIDE * 2, MAX_SIDE * 2))  # a JPEG is decoded at a smaller scale: far quicker
            image = ImageOps.exif_transpose(image)
            image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
            flat = _on_white(image)
            out = io.BytesIO()
            flat.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError, OSError, ValueError, SyntaxError):
        raise PhotoProblem("The photo could not be read: the file may be damaged. Send it again, or another one.") from None
    return out.getvalue()


def _on_white(image: Image.Image) -> Image.Image:
    """An RGB image; a transparent one laid on white (JPEG has no transparency)."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def store(upload_directory: Path, jpeg: bytes) -> str:
    """Write a prepared photo under a new random name, as uploads are written; returns the name."""
    return uploads.save(directory_of(upload_directory), jpeg, suffix=".jpg")


def discard(upload_directory: Path, name: str | None) -> None:
    """Delete a stored photo (replaced, removed, or written for a change that failed). One
    that cannot be deleted is logged, not raised: the change it followed stands."""
    if not name:
        return
    try:
        path_of(upload_directory, name).unlink(missing_ok=True)
    except (OSError, NotFound):
        log.warning("could not delete the speaker photo %s", name, exc_info=True)
