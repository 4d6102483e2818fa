"""The `portal` command."""

from __future__ import annotations

import argparse
import gc
import getpass
import json
import logging
import logging.config
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from portal.db import make_engine, make_session_factory, run_unit_of_work, transaction
from portal.errors import AlreadyExists, ImportProblem, InvalidInput, NotFound, PortalError
from portal.logs import log_config
from portal.settings import Settings, SettingsError, SMTPServer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from portal.mail.transports import SMTPTransport

# The modules only some commands need (the web server, Alembic, the services with their
# templates and spreadsheet code) are imported inside those commands, against the rule of
# importing at the top: every command pays for what this module imports, and importing
# them all here made `portal export roster` spend over a second starting before reading a
# row. Only start-up time justifies this; nowhere else in the portal imports in a function.

# The same as services.exports.FORMATS (a test checks), named here so that building the
# parser imports no service.
EXPORT_FORMATS = ("csv", "xlsx")

log = logging.getLogger("portal")


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        sys.exit(f"portal: {exc}")


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    if not os.environ.get("PORTAL_BASE_URL"):
        # Without a base URL, the links in emails and feeds point where this server listens,
        # not at the default port 8000 (the worker processes inherit the environment).
        os.environ["PORTAL_BASE_URL"] = f"http://{args.host}:{args.port}"
    settings = _settings()
    _check_data_keys(settings)
    print(f"Serving the portal on http://{args.host}:{args.port} (database: {_safe_url(settings.database_url)})", file=sys.stderr)
    uvicorn.run(
        "portal.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=log_config(),
        proxy_headers=True,
        server_header=False,
    )
    return 0


def _check_data_keys(settings: Settings) -> None:
    """Stop with a message, before serving or working, when the data keys cannot open this
    database's sealed answers (portal.datakeys)."""
    from portal.datakeys import check_keyring
    from portal.sealing import DataKeyError

    try:
        run_unit_of_work(_sessions(settings), check_keyring)
    except DataKeyError as exc:
        sys.exit(f"portal: {exc}")
    if settings.data_key_from_var:
        print(
            f"portal: warning: PORTAL_DATA_KEY is unset, so sensitive answers are sealed with the key in {settings.var_dir / 'data_key'}. "
            "In production set PORTAL_DATA_KEY and keep a copy of the key elsewhere.",
            file=sys.stderr,
        )


def cmd_data_rekey(args: argparse.Namespace) -> int:
    from portal.datakeys import Rekeyed, rekey_batch

    settings = _settings()
    _check_data_keys(settings)
    sessions = _sessions(settings)
    answers = files = 0
    after: int | None = 0
    while after is not None:
        done, after = run_unit_of_work(sessions, rekey_batch, settings.upload_directory, after_id=after)
        answers, files = answers + done.answers, files + done.files
    print(f"{Rekeyed(answers, files)}; the older keys in PORTAL_DATA_KEY may now be removed")
    return 0


def cmd_data_new_key(args: argparse.Namespace) -> int:
    from portal.sealing import new_key

    print(new_key())
    return 0


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from portal import migrate

    settings = _settings()
    migrate.upgrade(settings.database_url, args.revision)
    print(f"database at {_safe_url(settings.database_url)} is at revision {args.revision}")
    return 0


def cmd_db_downgrade(args: argparse.Namespace) -> int:
    from portal import migrate

    settings = _settings()
    migrate.downgrade(settings.database_url, args.revision)
    print(f"database downgraded to {args.revision}")
    return 0


def _sessions(settings: Settings) -> sessionmaker[Session]:
    return make_session_factory(make_engine(settings.database_url, pool_size=2), keyring=settings.keyring)


def cmd_demo(args: argparse.Namespace) -> int:
    from portal import demo

    settings = _settings()
    sessions = _sessions(settings)
    if args.if_empty and run_unit_of_work(sessions, demo.has_data, write=False):
        print("demo skipped: the database already has programmes or events")
        return 0
    report, added = run_unit_of_work(sessions, demo.load, default_timezone=settings.timezone)
    print(f"demo loaded: {report}; {added} placeholder registrations added")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from portal.catalogue.imports import import_data

    settings = _settings()
    path = Path(args.file)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        print(f"portal import: {path}: no such file", file=sys.stderr)
        return 2
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        print(f"portal import: {path}: not valid JSON: {exc}", file=sys.stderr)
        return 2
    try:
        report = run_unit_of_work(_sessions(settings), import_data, data, default_timezone=settings.timezone)
    except ImportProblem as exc:
        print(f"portal import: {path}: {exc.message}\nNothing was changed.", file=sys.stderr)
        return 2
    print(f"imported {path}: {report}")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from portal.mail.outbox import run_worker
    from portal.mail.planner import mailing_work
    from portal.mail.transports import LogTransport, Transport

    settings = _settings()
    logging.config.dictConfig(log_config())
    server = settings.smtp_server
    transport: Transport = LogTransport()
    if server is not None:
        try:
            transport = smtp_transport(server)
        except OSError as exc:  # the cafile is not a certificate bundle
            sys.exit(f"portal worker: PORTAL_SMTP_URL: {exc}")
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        # Finish the message in hand and hand the rest of the batch back; a second signal
        # ends the process at once (what is claimed then is retried when the lease ends).
        log.info("worker: stopping after the message in hand")
        stop.set()
        signal.signal(signum, signal.SIG_DFL)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if server is None:
        log.info("worker: delivering email to the log (PORTAL_SMTP_URL is unset)")
    else:
        log.info("worker: delivering email over SMTP to %s:%s (TLS: %s)", server.host, server.port, server.security)
    _check_data_keys(settings)
    sessions = _sessions(settings)

    def housekeeping() -> None:
        from portal.db import run_unit_of_work
        from portal.registrations.uploads import sweep_orphans
        from portal.subscriptions.service import forget_unconfirmed

        run_unit_of_work(sessions, sweep_orphans, settings.upload_directory, write=False)
        run_unit_of_work(sessions, forget_unconfirmed, write=True)

    run_worker(
        sessions, transport, settings.mail_from, once=args.once, interval=args.interval, stop=stop, housekeeping=housekeeping,
        jobs=mailing_work(settings, sessions),
    )
    return 0


def smtp_transport(server: SMTPServer, *, timeout: float | None = None) -> SMTPTransport:
    """The transport that sends to the server PORTAL_SMTP_URL names."""
    from portal.mail.transports import SMTP_TIMEOUT, SMTPTransport

    return SMTPTransport(
        server.host, server.port, security=server.security, user=server.user, password=server.password,
        cafile=server.cafile, timeout=SMTP_TIMEOUT if timeout is None else timeout,
    )


def _new_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("Password (at least 12 characters): ")
    if getpass.getpass("The same password again: ") != password:
        sys.exit("portal organiser add: the two passwords differ; nothing was changed.")
    return password


def cmd_organiser_add(args: argparse.Namespace) -> int:
    from portal.accounts import organisers

    settings = _settings()
    password = _new_password(args)
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        added = run_unit_of_work(
            make_session_factory(engine, keyring=settings.keyring), organisers.add_organiser, args.email, password, name=args.name, is_admin=args.admin
        )
    except (InvalidInput, AlreadyExists) as exc:
        print(f"portal organiser add: {exc.message}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(f"added {'admin' if added.is_admin else 'organiser'} {added.email}")
    return 0


def _progress_bar(total: int) -> Callable[[int], None]:
    def show(done: int) -> None:
        width = 30
        filled = int(width * done / total) if total else width
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} registrations")
        sys.stderr.flush()

    return show


def cmd_export_roster(args: argparse.Namespace) -> int:
    settings = _settings()
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        return _export_roster(args, make_session_factory(engine, keyring=settings.keyring))
    finally:
        engine.dispose()


def _export_roster(args: argparse.Namespace, sessions: sessionmaker[Session]) -> int:
    from portal.rosters import exports

    # Everything imported so far lives as long as the process: frozen, it is left out of the
    # collector's full passes, which the export's millions of new objects would otherwise set
    # walking over all of it again and again (about a tenth of the time at 100,000 rows).
    gc.freeze()
    try:
        info = run_unit_of_work(sessions, exports.export_info, args.slug, write=False)
    except NotFound as exc:
        print(f"portal export roster: {exc.message}", file=sys.stderr)
        return 2
    progress = _progress_bar(info.total) if sys.stderr.isatty() else None
    to_stdout = args.output == "-"
    target = Path(args.output or info.filename(args.format))
    # Written beside the target and renamed at the end, so a failed export leaves no half file.
    handle = sys.stdout.buffer if to_stdout else tempfile.NamedTemporaryFile("wb", dir=target.parent, prefix=f".{target.name}.", delete=False)
    try:
        with transaction(sessions, write=False) as session:
            for chunk in exports.export_chunks(session, info, args.format, progress):
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


def cmd_export_form(args: argparse.Namespace) -> int:
    from portal.catalogue.formfiles import form_to_export

    settings = _settings()
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        found = run_unit_of_work(make_session_factory(engine, keyring=settings.keyring), form_to_export, args.name, write=False)
    except (NotFound, InvalidInput) as exc:
        print(f"portal export form: {exc.message}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
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


def cmd_export_certificates(args: argparse.Namespace) -> int:
    from portal.documents.certificates import certificate_pdf
    from portal.registrations.certificates import event_files
    from portal.site import Site

    settings = _settings()
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        files = run_unit_of_work(make_session_factory(engine, keyring=settings.keyring), event_files, args.slug, write=False)
    except NotFound as exc:
        print(f"portal export certificates: {exc.message}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    site = Site(base_url=settings.base_url)
    directory = Path(args.output or f"certificates-{args.slug}")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for file in files:
            pdf = certificate_pdf(file.shows, file.code, site.url("verify_certificate", code=file.code))
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
    print(f"wrote {len(files)} certificate{'' if len(files) == 1 else 's'} of {args.slug} to {directory}", file=sys.stderr)
    return 0


def cmd_export_badges(args: argparse.Namespace) -> int:
    from portal.documents.badges import badges_pdf
    from portal.rosters.badges import event_badges

    settings = _settings()
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        # A writing transaction: a confirmed registration without a check-in code gets one.
        found = run_unit_of_work(make_session_factory(engine, keyring=settings.keyring), event_badges, args.slug, most=None, write=True)
        pdf = badges_pdf(found.badges, args.layout)
        if args.output == "-":
            sys.stdout.buffer.write(pdf)
        else:
            _write_whole(Path(args.output or found.filename(args.layout)), pdf)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="portal", description="The events and programme-registration portal.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the site")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database migrations")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="apply the migrations in migrations/")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=cmd_db_upgrade)
    down = db_sub.add_parser("downgrade", help="undo migrations down to REVISION (base: all)")
    down.add_argument("revision")
    down.set_defaults(func=cmd_db_downgrade)

    demo = sub.add_parser("demo", help="load the demo programmes and events (idempotent)")
    demo.add_argument("--if-empty", action="store_true", help="only when the database has no programmes or events")
    demo.set_defaults(func=cmd_demo)

    imp = sub.add_parser("import", help="create or update programmes and events from a JSON file")
    imp.add_argument("file")
    imp.set_defaults(func=cmd_import)

    worker = sub.add_parser("worker", help="deliver queued email")
    worker.add_argument("--once", action="store_true", help="deliver what is due, then exit")
    worker.add_argument("--interval", type=float, default=5.0, help="seconds between polls when idle")
    worker.set_defaults(func=cmd_worker)

    organiser = sub.add_parser("organiser", help="organiser accounts")
    organiser_sub = organiser.add_subparsers(dest="organiser_command", required=True)
    add = organiser_sub.add_parser("add", help="add an organiser; the password is asked for twice, or read from stdin")
    add.add_argument("email")
    add.add_argument("--admin", action="store_true", help="may also manage organiser accounts")
    add.add_argument("--name", default="", help="the name shown in the back office and the audit log")
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of standard input")
    add.set_defaults(func=cmd_organiser_add)

    data = sub.add_parser("data", help="the keys that seal sensitive answers")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    rekey = data_sub.add_parser("rekey", help="re-encrypt sensitive answers and sealed uploads with the newest key in PORTAL_DATA_KEY")
    rekey.set_defaults(func=cmd_data_rekey)
    new = data_sub.add_parser("new-key", help="print a new data key, to put first in PORTAL_DATA_KEY")
    new.set_defaults(func=cmd_data_new_key)

    export = sub.add_parser("export", help="export data")
    export_sub = export.add_subparsers(dest="export_command", required=True)
    roster = export_sub.add_parser("roster", help="write an event's roster, every field, as CSV or XLSX")
    roster.add_argument("slug")
    roster.add_argument("--format", choices=EXPORT_FORMATS, default="csv")
    roster.add_argument("-o", "--output", help="file to write (default roster-SLUG.FORMAT; - for standard output)")
    roster.set_defaults(func=cmd_export_roster)
    form = export_sub.add_parser(
        "form", help="write a programme's or an event's registration form as JSON, in the import file's shape"
    )
    form.add_argument(
        "name", metavar="CODE-OR-SLUG",
        help="a programme's code (its form) or an event's slug (the form it uses); programme:CODE or event:SLUG if both exist",
    )
    form.add_argument("-o", "--output", help="file to write (default: standard output)")
    form.set_defaults(func=cmd_export_form)
    badges = export_sub.add_parser("badges", help="write name badges of an event's confirmed registrants as PDF")
    badges.add_argument("slug")
    badges.add_argument("--layout", choices=("a4", "single"), default="a4", help="a4: eight a sheet, with cutting marks; single: one 4 x 3 inch badge a page")
    badges.add_argument("-o", "--output", help="file to write (default badges-SLUG.pdf; - for standard output)")
    badges.set_defaults(func=cmd_export_badges)
    certificates = export_sub.add_parser("certificates", help="write an event's valid certificates of attendance as PDF files")
    certificates.add_argument("slug")
    certificates.add_argument("-o", "--output", metavar="DIR", help="directory to write them in (default certificates-SLUG)")
    certificates.set_defaults(func=cmd_export_certificates)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (OperationalError, ProgrammingError) as exc:
        # Run from another directory, `portal` finds (and makes) an empty database under that
        # directory's var/: say so, rather than print SQLAlchemy's traceback.
        if not _missing_tables(exc):
            raise
        url = _safe_url(Settings.from_env().database_url)
        print(
            f"portal: the database {url} has no portal tables. Run `portal db upgrade` first, or run "
            "`portal` from the directory the portal runs in (its database is var/ there), or set PORTAL_DATABASE_URL.",
            file=sys.stderr,
        )
        return 2


def _missing_tables(exc: Exception) -> bool:
    text = str(exc).lower()
    return "no such table" in text or ("relation" in text and "does not exist" in text)


if __name__ == "__main__":
    sys.exit(main())
