"""The `portal export` commands (roster, form, badges, certificates): apart from the rest of
the command line because they are most of it. Each takes the parsed arguments and the
settings, and returns the exit code."""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from portal.db import make_engine, make_session_factory, run_unit_of_work
from portal.errors import InvalidInput, NotFound, PortalError
from portal.settings import Settings

T = TypeVar("T")

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

# As in portal.cli: the services each command needs are imported inside it, so that starting
# `portal export roster` does not pay for the web server and every template.


def _progress_bar(total: int) -> Callable[[int], None]:
    def show(done: int) -> None:
        width = 30
        filled = int(width * done / total) if total else width
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} registrations")
        sys.stderr.flush()

    return show


def export_roster(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        return _export_roster(args, make_session_factory(engine, keyring=settings.keyring))
    finally:
        engine.dispose()


def _export_roster(args: argparse.Namespace, sessions: sessionmaker[Session]) -> int:
    from portal.rosters import data_access, exports

    # Everything imported so far lives as long as the process: frozen, it is left out of the
    # collector's full passes, which the export's millions of new objects would otherwise set
    # walking over all of it again and again (about a tenth of the time at 100,000 rows).
    gc.freeze()
    try:
        info = run_unit_of_work(sessions, exports.export_info, args.slug, args.include_sensitive or [], write=False)
    except (NotFound, InvalidInput) as exc:  # no such event; a key that is no sensitive question
        print(f"portal export roster: {exc.message}", file=sys.stderr)
        return 2
    progress = _progress_bar(info.total) if sys.stderr.isatty() else None
    to_stdout = args.output == "-"
    target = Path(args.output or info.filename(args.format))
    # Written beside the target and renamed at the end, so a failed export leaves no half file.
    handle = sys.stdout.buffer if to_stdout else tempfile.NamedTemporaryFile("wb", dir=target.parent, prefix=f".{target.name}.", delete=False)
    try:
        # Recorded in the audit log (by the command line) with its rows and bytes once written.
        for chunk in data_access.roster_export_stream(sessions, None, info, args.format, progress):
            handle.write(chunk)
        handle.flush()
    except BaseException:
        if not to_stdout:
            handle.close()
            os.unlink(handle.name)
        raise
    if not to_stdout:
        handle.close()
        os.replace(handle.name, target)
    if progress is not None:
        sys.stderr.write("\n")
    written = f"{info.total:,} registration{'' if info.total == 1 else 's'}"
    print(f"wrote {written} to {'standard output' if to_stdout else target}", file=sys.stderr)
    return 0


def export_form(args: argparse.Namespace, settings: Settings) -> int:
    from portal.catalogue.formfiles import form_to_export

    try:
        found = _run_once(settings, form_to_export, args.name, write=False)
    except (NotFound, InvalidInput) as exc:
        print(f"portal export form: {exc.message}", file=sys.stderr)
        return 2
    text = json.dumps(found.to_json(), indent=2, ensure_ascii=False) + "\n"
    if args.output in (None, "-"):
        sys.stdout.write(text)
        where = "standard output"
    else:
        target = Path(args.output)
        try:
            _write_whole(target, text)
        except OSError as exc:
            print(f"portal export form: {target}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        where = str(target)
    questions = sum(1 for q in found.form.questions if q.asks)
    counted = f"{questions} question{'' if questions == 1 else 's'}"
    print(f"wrote the form of {found.whose} ({counted}) to {where}", file=sys.stderr)
    return 0


def export_certificates(args: argparse.Namespace, settings: Settings) -> int:
    from portal.documents.certificates import certificate_pdf
    from portal.registrations.certificates import event_files
    from portal.rosters.data_access import record_certificates
    from portal.site import Site

    try:
        files = _run_once(settings, event_files, args.slug, write=False)
    except NotFound as exc:
        print(f"portal export certificates: {exc.message}", file=sys.stderr)
        return 2
    site = Site(base_url=settings.base_url)
    directory = Path(args.output or f"certificates-{args.slug}")
    size = 0
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for file in files:
            pdf = certificate_pdf(file.shows, file.code, site.url("verify_certificate", code=file.code))
            size += len(pdf)
            # Beside the target, then renamed: a failed run leaves no half-written PDF.
            with tempfile.NamedTemporaryFile("wb", dir=directory, prefix=f".{file.filename}.", delete=False) as handle:
                try:
                    handle.write(pdf)
                except BaseException:
                    handle.close()
                    os.unlink(handle.name)
                    raise
            os.replace(handle.name, directory / file.filename)
    except OSError as exc:
        print(f"portal export certificates: {directory}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if files:
        _record_export(settings, record_certificates, args.slug, len(files), size)
    print(f"wrote {len(files)} certificate{'' if len(files) == 1 else 's'} of {args.slug} to {directory}", file=sys.stderr)
    return 0


def export_badges(args: argparse.Namespace, settings: Settings) -> int:
    from portal.documents.badges import badges_pdf
    from portal.rosters.badges import event_badges
    from portal.rosters.data_access import record_badges

    engine = make_engine(settings.database_url, pool_size=1)
    try:
        # A writing transaction: a confirmed registration without a check-in code gets one.
        found = run_unit_of_work(make_session_factory(engine, keyring=settings.keyring), event_badges, args.slug, most=None, write=True)
        pdf = badges_pdf(found.badges, args.layout)
        if args.output == "-":
            sys.stdout.buffer.write(pdf)
        else:
            _write_whole(Path(args.output or found.filename(args.layout)), pdf)
        run_unit_of_work(
            make_session_factory(engine, keyring=settings.keyring), record_badges, None, args.slug, len(found.badges), len(pdf), args.layout,
        )
    except PortalError as exc:  # no such event, nobody confirmed, the fonts not installed
        print(f"portal export badges: {exc.message}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"portal export badges: {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    where = "standard output" if args.output == "-" else args.output or found.filename(args.layout)
    print(f"wrote {len(found.badges)} badge{'' if len(found.badges) == 1 else 's'} to {where}", file=sys.stderr)
    return 0


def _run_once(settings: Settings, fn: Callable[..., T], *args: object, write: bool = True) -> T:
    """fn(session, *args) in one unit of work on an engine of its own, closed after."""
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        return run_unit_of_work(make_session_factory(engine, keyring=settings.keyring), fn, *args, write=write)
    finally:
        engine.dispose()


def _record_export(settings: Settings, recorder: Callable[..., None], *details: object) -> None:
    """Record an export the command line made (a rosters.data_access recorder, actor None),
    in a transaction of its own."""
    _run_once(settings, recorder, None, *details)


def _write_whole(target: Path, text: str | bytes) -> None:
    """Write beside the target and rename, so a failed write leaves the old file whole."""
    binary = isinstance(text, bytes)
    with tempfile.NamedTemporaryFile(
        "wb" if binary else "w", encoding=None if binary else "utf-8", dir=target.parent, prefix=f".{target.name}.", delete=False
    ) as handle:
        try:
            handle.write(text)
        except BaseException:
            handle.close()
            os.unlink(handle.name)
            raise
    os.replace(handle.name, target)
