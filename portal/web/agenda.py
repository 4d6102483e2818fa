"""A conference's public pages beyond the event page: one session, one speaker, and the
speaker's photo."""

from __future__ import annotations

from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from portal.catalogue import agenda, photos
from portal.errors import NotFound
from portal.web.pagecache import shared_page, shows_seats
from portal.web.plumbing import etag_matches, public_route, render, uow

# The type each stored photo's extension is served as (catalogue/photos.py writes JPEGs).
PHOTO_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}
# A photo's address carries its name (?v=), and a new photo gets a new name: the browser may
# keep one for a year. Asked for without it, or with an old name, an hour.
PHOTO_FOREVER = "public, max-age=31536000, immutable"
PHOTO_A_WHILE = "public, max-age=3600"


def _path(request: Request, name: str) -> str:
    """A path parameter; one holding NUL names nothing (and PostgreSQL refuses to look it up)."""
    value: str = request.path_params[name]
    if "\x00" in value:
        raise NotFound("There is nothing at this address.")
    return value


@shared_page
async def show_session(request: Request) -> Response:
    page = await uow(request, agenda.get_session_page, _path(request, "slug"), _path(request, "key"))
    # Its places left change with the event's choices, which bump the event's seats.
    shows_seats(request, [page.event.id])
    return render(request, "public/session.html", {"page": page})


@shared_page
async def show_speaker(request: Request) -> Response:
    page = await uow(request, agenda.get_speaker_page, _path(request, "key"))
    return render(request, "public/speaker.html", {"page": page})


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


async def show_speaker_photo(request: Request) -> Response:
    """A speaker's photo, as stored; never kept by the page cache (photos would crowd the
    pages out of it), but by browsers, for a year under its name."""
    name = await uow(request, agenda.speaker_photo, _path(request, "key"))
    # The name comes from the database, never the address, and path_of refuses any name the
    # portal could not have given, so no name climbs out of the directory.
    path = photos.path_of(request.app.state.settings.upload_directory, name)
    media_type = PHOTO_TYPES.get(path.suffix.lower())
    if media_type is None:
        raise NotFound("This photo cannot be shown.")
    etag = f'"{name}"'
    headers = {
        "ETag": etag,
        "Cache-Control": PHOTO_FOREVER if request.query_params.get("v") == name else PHOTO_A_WHILE,
        "X-Content-Type-Options": "nosniff",
    }
    if etag_matches(request, etag):
        return Response(status_code=304, headers=headers)
    content = await run_in_threadpool(_read, path)
    if content is None:
        raise NotFound("This photo is no longer kept.")
    return Response(content, media_type=media_type, headers=headers)


routes = [
    public_route("show_session", show_session),
    public_route("show_speaker", show_speaker),
    public_route("show_speaker_photo", show_speaker_photo),
]
