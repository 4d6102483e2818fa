"""Uploaded files go with their registration: whatever deletes a registration (its Upload
rows go with it in the database), `portal worker` then deletes the files no row names."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from sqlalchemy import delete

from portal.models import Registration, Upload
from portal.registrations import uploads
from tests.mail.conftest import command_environment


def _store(run, directory, registration, key="cv"):  # type: ignore[no-untyped-def]
    name = uploads.save(directory, b"%PDF-1.4\n")
    run(lambda s: s.add(Upload(stored_name=name, registration_id=registration.id, event_id=registration.event_id,
                               question_key=key, filename="cv.pdf", content_type="application/pdf", size=9)))
    return name


def _age(directory, name, seconds):  # type: ignore[no-untyped-def]
    then = time.time() - seconds
    os.utime(directory / name, (then, then))


def test_a_deleted_registration_s_files_are_swept_and_the_rest_kept(run, make_event, make_registration, tmp_path):
    directory = tmp_path / "uploads"
    event = make_event()
    kept_registration, gone_registration = make_registration(event), make_registration(event)
    kept = _store(run, directory, kept_registration)
    gone = _store(run, directory, gone_registration)
    just_written = uploads.save(directory, b"%PDF-1.4\n")  # its registration not committed yet
    for name in (kept, gone):
        _age(directory, name, 7200)

    run(lambda s: s.execute(delete(Registration).where(Registration.id == gone_registration.id)))
    assert run(uploads.sweep_orphans, directory) == 1

    assert sorted(p.name for p in directory.iterdir()) == sorted([kept, just_written])
    assert run(uploads.sweep_orphans, directory) == 0  # nothing more to do


def test_portal_worker_sweeps_the_files_of_deleted_registrations(run, make_event, make_registration, database_url, tmp_path):
    directory = tmp_path / "var" / "uploads"
    event = make_event()
    registration = make_registration(event)
    name = _store(run, directory, registration)
    _age(directory, name, 7200)
    run(lambda s: s.execute(delete(Registration).where(Registration.id == registration.id)))

    done = subprocess.run(
        [sys.executable, "-m", "portal.cli", "worker", "--once"],
        env=command_environment(database_url, PORTAL_UPLOAD_DIR=str(directory)), cwd=tmp_path,
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert not (directory / name).exists()
    assert "deleted 1 file(s) whose registration is gone" in done.stderr


def test_the_sweep_leaves_a_missing_directory_and_other_files_alone(run, tmp_path):
    """A fresh installation has no upload directory yet; and only names the portal gives are
    ever swept, whatever else lies in the directory."""
    assert run(uploads.sweep_orphans, tmp_path / "none") == 0
    directory = tmp_path / "uploads"
    directory.mkdir()
    (directory / "notes.txt").write_text("kept")
    _age(directory, "notes.txt", 7200)
    assert run(uploads.sweep_orphans, directory) == 0
    assert (directory / "notes.txt").read_text() == "kept"


def test_a_stored_name_cannot_climb_out_of_the_directory(tmp_path):
    import pytest

    from portal.errors import NotFound

    (tmp_path / "secret").write_text("x")
    for name in ("../secret", "..", "", "a/b"):
        with pytest.raises(NotFound):
            uploads.path_of(tmp_path / "uploads", name)
    uploads.discard(tmp_path / "uploads", ["../secret"])  # logged, never followed
    assert (tmp_path / "secret").exists()
