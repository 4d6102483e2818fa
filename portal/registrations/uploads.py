"""Files participants send with a form's file questions: what a file is (read from its
content, never from its name or the type the browser claims), where it is kept (under
PORTAL_UPLOAD_DIR, with a random name, readable by the portal's user only), and finding one
for the holder of its registration's private link.

The web layer checks a file against its question (portal.forms.questions), writes it here
only once the whole form is valid, and discards what it wrote if the registration is then
refused; register() records an Upload row for every file it keeps.

A sensitive question's file (file questions are sensitive unless the form says otherwise) is
written sealed with the data keys, under a generic name ("upload.pdf"): its real name is the
answer, among the registration's sealed answers. Every reader goes through `download_for_*`,
which opens it; an organiser's download of one is a reveal, recorded in the audit log.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import filetype
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import audit
from portal.audit import Actor
from portal.datakeys import Rekeyed
from portal.errors import NotFound
from portal.models import Registration, Upload
from portal.registrations import sealed
from portal.registrations.participants import find_by_token
from portal.sealing import keyring_of
from portal.storedfiles import STORED_NAME, replace_private, save_private

log = logging.getLogger("portal.uploads")
# The audit log's name for an organiser's download of a sealed file (the data-access log
# lists it beside the reveals of sensitive answers).
DOWNLOAD_ACTION = "answer.download"

# What secrets.token_urlsafe(24) gives: 32 characters of the URL-safe alphabet. A stored
# name is checked against it before it becomes a path, so no name can climb out of the
# directory.
_UNSAFE_IN_NAME = re.compile(r"[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069\"\\/:*?<>|]")
MAX_FILENAME = 200


def sniff(content: bytes, accept: Iterable[str]) -> str | None:
    """The file's type, read from its first bytes, when it is one of `accept`; else None."""
    if not content:
        return None
    found = filetype.guess_mime(content)
    return found if found in set(accept) else None


def clean_filename(name: str | None) -> str:
    """The name to offer the file back under: its last path part, without control characters
    or the characters file systems refuse, at most 200 characters (the extension kept)."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = _UNSAFE_IN_NAME.sub("_", base).strip(" .")
    if len(base) > MAX_FILENAME:
        stem, dot, extension = base.rpartition(".")
        if dot and 0 < len(extension) <= 10:
            base = stem[: MAX_FILENAME - len(extension) - 1] + "." + extension
        else:
            base = base[:MAX_FILENAME]
    return base or "file"


def path_of(directory: Path, stored_name: str) -> Path:
    """Where a stored file lies; NotFound for a name the portal could not have given."""
    if not STORED_NAME.match(stored_name or ""):
        raise NotFound("There is no such file.")
    return directory / stored_name


def save(directory: Path, content: bytes, *, suffix: str = "") -> str:
    """Write `content` under a new random name (ending in `suffix`) in `directory` (made if
    missing, private to the portal's user); returns the name."""
    return save_private(directory, content, suffix=suffix)


def discard(directory: Path, stored_names: Iterable[str]) -> None:
    """Delete stored files (a registration refused after they were written). A file that
    cannot be deleted is logged, not raised: the participant's answer matters more."""
    for name in stored_names:
        try:
            path_of(directory, name).unlink(missing_ok=True)
        except (OSError, NotFound):
            log.warning("could not delete the uploaded file %s", name, exc_info=True)


def sweep_orphans(session: Session, directory: Path, *, older_than: float = 3600.0) -> int:
    """Delete the stored files no Upload row names any more: a registration deleted, by any
    path (its Upload rows go with it, ON DELETE CASCADE), takes its files with it here. A
    file younger than `older_than` seconds is left: it may belong to a registration being
    made right now, written before its row commits. Returns how many were deleted."""
    if not directory.is_dir():
        return 0
    cutoff = time.time() - older_than
    candidates = []
    for entry in os.scandir(directory):
        if entry.is_file() and STORED_NAME.match(entry.name) and entry.stat().st_mtime < cutoff:
            candidates.append(entry.name)
    if not candidates:
        return 0
    known: set[str] = set()
    for start in range(0, len(candidates), 500):
        chunk = candidates[start:start + 500]
        known.update(session.scalars(select(Upload.stored_name).where(Upload.stored_name.in_(chunk))))
    orphans = [name for name in candidates if name not in known]
    discard(directory, orphans)
    if orphans:
        log.info("uploads: deleted %d file(s) whose registration is gone", len(orphans))
    return len(orphans)


def rekey_files_batch(session: Session, directory: Path, *, after_id: int, batch: int = 200) -> tuple[Rekeyed, int | None]:
    """`portal data rekey` for files: re-seal one batch of sealed files (Upload ids above
    `after_id`) with the newest key, whether or not their registration holds sealed answers;
    returns the counts and the last id, None when done. A file already sealed by the newest
    key, or no longer kept, is left. Each file is written whole beside the old one, private
    to the portal's user, then moved over it: it opens under either key at every moment."""
    keyring = keyring_of(session)
    rows = session.scalars(
        select(Upload).where(Upload.id > after_id, Upload.sealed.is_(True)).order_by(Upload.id).limit(batch)
    ).all()
    files = 0
    for upload in rows:
        try:
            path = path_of(directory, upload.stored_name)
        except NotFound:
            continue
        if not path.is_file():
            continue
        data = path.read_bytes()
        if keyring.sealed_by_newest(data):
            continue
        replace_private(path, keyring.reseal(data))
        files += 1
    return Rekeyed(0, files), (rows[-1].id if len(rows) == batch else None)


def files_of(session: Session, registration_id: int) -> dict[str, str]:
    """The files a registration holds: {question key: the name the participant gave}."""
    rows = session.execute(
        select(Upload.question_key, Upload.filename).where(Upload.registration_id == registration_id).order_by(Upload.id)
    )
    return {key: filename for key, filename in rows}


def upload_of(session: Session, registration_id: int, key: str) -> Upload:
    """The file a registration sent for question `key` (the latest, if sent again)."""
    upload = session.scalar(
        select(Upload).where(Upload.registration_id == registration_id, Upload.question_key == key)
        .order_by(Upload.id.desc()).limit(1)
    )
    if upload is None:
        raise NotFound("This registration holds no such file.")
    return upload


@dataclass(frozen=True)
class Download:
    """A stored file ready to send: `content` is the sealed file opened (None: the file at
    `path` is sent as it is), `filename` the name the participant gave it."""

    path: Path
    filename: str
    content_type: str
    size: int
    content: bytes | None = None


def _download(session: Session, directory: Path, registration: Registration, upload: Upload) -> Download:
    path = path_of(directory, upload.stored_name)
    if not path.is_file():
        raise NotFound("This file is no longer kept: it may have been deleted or moved.")
    if not upload.sealed:
        return Download(path, upload.filename, upload.content_type, upload.size)
    content = keyring_of(session).open(path.read_bytes())
    given = sealed.all_answers(session, registration).get(upload.question_key)
    filename = given if isinstance(given, str) and given else upload.filename
    return Download(path, filename, upload.content_type, len(content), content)


def download_for_holder(session: Session, directory: Path, token: str, key: str) -> Download:
    """The file a registration sent for question `key`, opened, for the holder of its
    private link (their own file: nothing to record)."""
    registration = find_by_token(session, token)
    return _download(session, directory, registration, upload_of(session, registration.id, key))


def download_for_organiser(
    session: Session, directory: Path, actor: Actor | None, registration_id: int, key: str, *, now: datetime | None = None,
) -> Download:
    """A registration's file for an organiser; a sealed one is a sensitive answer revealed,
    so the audit log records who opened which question's file, and its size (never its name)."""
    registration = session.get(Registration, registration_id)
    if registration is None:
        raise NotFound("There is no such registration.")
    upload = upload_of(session, registration.id, key)
    download = _download(session, directory, registration, upload)
    if upload.sealed:
        audit.record(
            session, actor, DOWNLOAD_ACTION, event_id=registration.event_id, registration_id=registration.id,
            after={"question": key, "bytes": download.size}, now=now,
        )
    return download
