"""Speakers in the back office: the list (search by name or key, pages), adding and editing
one (audited), and their photo: checked from its bytes, made at most 400 × 400 on the server,
kept as a JPEG without metadata under PORTAL_UPLOAD_DIR/speakers, the old file removed when
replaced or removed."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import select

from portal.catalogue import photos
from portal.catalogue.timetable import apply_speakers
from portal.db import utcnow
from portal.models import AuditEntry, Speaker
from tests.web.backoffice.conftest import token


def png(width: int, height: int, colour: tuple[int, ...] = (200, 30, 30, 255)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def jpeg_with_exif(width: int, height: int) -> bytes:
    image = Image.new("RGB", (width, height), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x0112] = 6  # Orientation: turned 90°, so the photo is shown upright the other way round
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def speaker_row(sessions, key):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return session.scalar(select(Speaker).where(Speaker.key == key))


def send(client, path, data, files=None):  # type: ignore[no-untyped-def]
    """POST the speaker form as a browser does (multipart), with the page's CSRF token."""
    return client.post(path, data={"csrf_token": token(client, path), **data}, files=files or {"photo": ("", b"", "application/octet-stream")})


def stored(settings):  # type: ignore[no-untyped-def]
    folder = photos.directory_of(settings.upload_directory)
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_the_list_searches_by_name_or_key_and_pages(organiser_client, run, conference, add_session):
    people = [{"key": f"person-{n:03d}", "name": f"Person {n:03d}", "affiliation": "", "title": "", "bio": ""} for n in range(60)]
    people.append({"key": "tan-ah-kow", "name": "Dr Tan Ah Kow", "affiliation": "RSIS", "title": "Professor", "bio": ""})
    run(apply_speakers, people, now=utcnow())
    add_session(conference, "opening", speakers=["tan-ah-kow"])
    first = organiser_client.get("/admin/speakers")
    assert first.status_code == 200 and "61 speakers." in first.text and "Page 1 of 2" in first.text
    assert "Person 000" in first.text and "Person 059" not in first.text
    second = organiser_client.get("/admin/speakers", params={"page": "2"})
    assert "Person 059" in second.text and "Person 000" not in second.text
    by_name = organiser_client.get("/admin/speakers", params={"q": "TAN AH"})
    assert "1 speaker with “TAN AH” in the name or key" in by_name.text and "Dr Tan Ah Kow" in by_name.text
    by_key = organiser_client.get("/admin/speakers", params={"q": "person-05"})
    assert "10 speakers" in by_key.text
    row = by_name.text[by_name.text.index("Dr Tan Ah Kow"):]
    assert '<td data-label="Sessions">1</td>' in row
    assert organiser_client.get("/admin/speakers", params={"q": "%"}).text.count("0 speakers") == 1


def test_add_and_edit_a_speaker_audited(organiser_client, sessions, settings, conference, add_session):
    added = send(organiser_client, "/admin/speakers/new", {"key": "Tan-Ah-Kow", "name": "Dr Tan Ah Kow", "affiliation": "RSIS",
                                                          "title": "Professor", "bio": "Works on **cohesion**."})
    assert added.status_code == 303, added.text[:2000]
    assert added.headers["location"].endswith("/admin/speakers/tan-ah-kow/edit")
    speaker = speaker_row(sessions, "tan-ah-kow")
    assert speaker.name == "Dr Tan Ah Kow" and speaker.bio == "Works on **cohesion**." and speaker.photo is None
    add_session(conference, "opening", speakers=["tan-ah-kow"], title="Opening keynote")
    page = organiser_client.get(added.headers["location"]).text
    assert "Added: Dr Tan Ah Kow." in page and "Opening keynote" in page and "ICCS Test" in page

    taken = send(organiser_client, "/admin/speakers/new", {"key": "tan-ah-kow", "name": "Someone else"})
    assert taken.status_code == 422 and "A speaker with the key “tan-ah-kow” exists already" in taken.text
    for bad, words in [({"key": "new", "name": "X"}, "kept for the page that adds a speaker"), ({"key": "a b", "name": "X"}, "lowercase letters"),
                       ({"key": "ok-key", "name": " "}, "Give the speaker's name.")]:
        refused = send(organiser_client, "/admin/speakers/new", bad)
        assert refused.status_code == 422 and words in refused.text.replace("&#39;", "'")

    edited = send(organiser_client, "/admin/speakers/tan-ah-kow/edit", {"name": "Prof Tan Ah Kow", "affiliation": "RSIS", "title": "Professor", "bio": ""})
    assert edited.status_code == 303
    assert speaker_row(sessions, "tan-ah-kow").name == "Prof Tan Ah Kow"
    with sessions() as session:
        entries = list(session.scalars(select(AuditEntry).where(AuditEntry.action.like("speaker.%")).order_by(AuditEntry.id)))
    assert [e.action for e in entries] == ["speaker.create", "speaker.update"]
    assert entries[1].before == {"speaker": "tan-ah-kow", "name": "Dr Tan Ah Kow", "bio": "Works on **cohesion**."}
    assert entries[1].after == {"speaker": "tan-ah-kow", "name": "Prof Tan Ah Kow", "bio": ""}
    assert organiser_client.get("/admin/speakers/nobody/edit").status_code == 404
    assert organiser_client.post("/admin/speakers/tan-ah-kow/edit", data={"name": "No token"}).status_code == 403


@pytest.mark.usefixtures("speakers")
def test_a_photo_is_made_small_kept_as_jpeg_and_replaced(organiser_client, sessions, settings):
    path = "/admin/speakers/tan-ah-kow/edit"
    form = {"name": "Dr Tan Ah Kow", "affiliation": "RSIS", "title": "Professor", "bio": ""}
    sent = send(organiser_client, path, form, files={"photo": ("me.png", png(1200, 800, (200, 30, 30, 0)), "image/png")})
    assert sent.status_code == 303, sent.text[:2000]
    first = speaker_row(sessions, "tan-ah-kow").photo
    assert stored(settings) == [first] and first.endswith(".jpg")
    kept = photos.path_of(settings.upload_directory, first)
    with Image.open(kept) as image:
        assert image.format == "JPEG" and image.size == (400, 267)
        assert image.getpixel((200, 130)) == pytest.approx((255, 255, 255), abs=3)  # transparent laid on white
    assert (kept.stat().st_mode & 0o777) == 0o600
    shown = organiser_client.get("/admin/speakers/tan-ah-kow/photo")
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg" and shown.content == kept.read_bytes()
    assert 'src="http://testserver/admin/speakers/tan-ah-kow/photo"' in organiser_client.get(path).text

    # A new photo replaces the old, whose file goes; its EXIF turns it upright, then is dropped.
    again = send(organiser_client, path, form, files={"photo": ("phone.jpg", jpeg_with_exif(900, 600), "image/jpeg")})
    assert again.status_code == 303
    second = speaker_row(sessions, "tan-ah-kow").photo
    assert second != first and stored(settings) == [second]
    with Image.open(photos.path_of(settings.upload_directory, second)) as image:
        assert image.size == (267, 400)
        assert not image.getexif() and "exif" not in image.info

    removed = send(organiser_client, path, {**form, "remove_photo": "y"})
    assert removed.status_code == 303 and speaker_row(sessions, "tan-ah-kow").photo is None and stored(settings) == []
    assert organiser_client.get("/admin/speakers/tan-ah-kow/photo").status_code == 404
    with sessions() as session:
        changes = [e.after.get("photo") for e in session.scalars(select(AuditEntry).where(AuditEntry.action == "speaker.update").order_by(AuditEntry.id))]
    assert changes == ["added", "replaced", "removed"]


@pytest.mark.usefixtures("speakers")
@pytest.mark.parametrize(("filename", "content", "words"), [
    ("cv.png", b"%PDF-1.4 not a picture at all", "This file is not a photo the portal can use: send a JPEG, PNG, WebP or GIF image."),
    ("broken.png", png(50, 50)[:60], "The photo could not be read"),
    ("huge.png", png(8000, 6000, (0, 0, 0, 255)), "too many pixels"),
])
def test_a_file_that_is_no_photo_is_refused_with_a_clear_message(organiser_client, sessions, settings, filename, content, words):
    path = "/admin/speakers/tan-ah-kow/edit"
    refused = send(organiser_client, path, {"name": "Renamed", "affiliation": "", "title": "", "bio": ""},
                   files={"photo": (filename, content, "image/png")})
    assert refused.status_code == 422
    assert words in refused.text and 'id="photo-error"' in refused.text
    assert speaker_row(sessions, "tan-ah-kow").name == "Dr Tan Ah Kow"  # nothing saved
    assert stored(settings) == []
