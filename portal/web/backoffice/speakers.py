"""Speakers in the back office: the list (search by name or key, pages), adding and editing
one, and their photo (checked from its bytes, made small and stored before the change is
saved; a file the change did not keep is deleted again)."""

from __future__ import annotations

from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from portal.catalogue import photos, speaker_admin
from portal.errors import AlreadyExists, InvalidInput, NotFound
from portal.forms.timetable import NewSpeakerForm, SpeakerForm
from portal.web.backoffice.auth import require_organiser
from portal.web.backoffice.base import actor, flash, page
from portal.web.csrf import read_form
from portal.web.params import page_number, text_param
from portal.web.plumbing import uow

PER_PAGE = 50


@require_organiser
async def list_speakers(request: Request) -> Response:
    q = text_param(request, "q")
    data = await uow(request, speaker_admin.list_speakers, q=q, page=page_number(request), per_page=PER_PAGE)
    return page(request, "admin/speakers.html", {"data": data})


def _directory(request: Request) -> Path:
    directory: Path = request.app.state.settings.upload_directory
    return directory


async def _photo_sent(request: Request, formdata: FormData) -> str | None:
    """The photo sent with the form, made small and stored: its name, or None when none was
    sent. PhotoProblem says what is wrong with a file that cannot be one."""
    upload = formdata.get("photo")
    if not isinstance(upload, UploadFile):
        return None
    content = await upload.read(photos.MAX_BYTES + 1)
    await formdata.close()
    if not content and not upload.filename:
        return None  # the file box left empty
    jpeg = await run_in_threadpool(photos.prepare, content)
    return await run_in_threadpool(photos.store, _directory(request), jpeg)


def _form_page(request: Request, form: SpeakerForm, detail: speaker_admin.SpeakerDetail | None, status: int) -> Response:
    return page(request, "admin/speaker_form.html", {"form": form, "detail": detail}, status_code=status)


def _back(request: Request, key: str) -> RedirectResponse:
    return RedirectResponse(request.url_for("admin:edit_speaker", key=key), status_code=303)


@require_organiser
async def new_speaker(request: Request) -> Response:
    status = 200
    if request.method == "POST":
        formdata = await read_form(request, max_files=1)
        form = NewSpeakerForm(formdata)
        if form.validate():
            stored = None
            try:
                stored = await _photo_sent(request, formdata)
                speaker = await uow(request, speaker_admin.create_speaker, actor(request), form.values(), photo=stored, write=True)
            except photos.PhotoProblem as exc:
                form.photo.errors = [exc.message]
            except (InvalidInput, AlreadyExists) as exc:
                await run_in_threadpool(photos.discard, _directory(request), stored)
                form.key.errors = [*form.key.errors, exc.message]
            except BaseException:
                await run_in_threadpool(photos.discard, _directory(request), stored)
                raise
            else:
                return flash(request, _back(request, speaker.key), f"Added: {speaker.name}.")
        status = 422
    else:
        form = NewSpeakerForm()
    return _form_page(request, form, None, status)


@require_organiser
async def edit_speaker(request: Request) -> Response:
    key = request.path_params["key"]
    detail = await uow(request, speaker_admin.speaker_detail, key)
    status = 200
    if request.method == "POST":
        formdata = await read_form(request, max_files=1)
        form = SpeakerForm(formdata)
        if form.validate():
            stored = None
            try:
                stored = await _photo_sent(request, formdata)
                saved = await uow(
                    request, speaker_admin.update_speaker, actor(request), key, form.values(),
                    photo=stored, remove_photo=bool(form.remove_photo.data) and stored is None, write=True,
                )
            except photos.PhotoProblem as exc:
                form.photo.errors = [exc.message]
            except BaseException:
                await run_in_threadpool(photos.discard, _directory(request), stored)
                raise
            else:
                # The file it replaced or removed goes once the change is committed.
                await run_in_threadpool(photos.discard, _directory(request), saved.old_photo)
                return flash(request, _back(request, key), "Saved." if saved.changed else "Nothing changed.")
        status = 422
    else:
        form = SpeakerForm(obj=detail.speaker)
    return _form_page(request, form, detail, status)


@require_organiser
async def speaker_photo(request: Request) -> Response:
    """A speaker's stored photo, for the back office's own pages."""
    speaker = await uow(request, speaker_admin.find_speaker, request.path_params["key"])
    if not speaker.photo:
        raise NotFound("This speaker has no photo.")
    path = photos.path_of(_directory(request), speaker.photo)
    if not await run_in_threadpool(path.is_file):
        raise NotFound("This photo is no longer kept.")
    return FileResponse(path, media_type="image/jpeg", headers={"X-Content-Type-Options": "nosniff"})


routes = [
    Route("/speakers", list_speakers, name="list_speakers"),
    Route("/speakers/new", new_speaker, name="new_speaker", methods=["GET", "POST"]),
    Route("/speakers/{key}/edit", edit_speaker, name="edit_speaker", methods=["GET", "POST"]),
    Route("/speakers/{key}/photo", speaker_photo, name="speaker_photo"),
]
