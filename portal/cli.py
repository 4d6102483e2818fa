"""The `portal` command."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import logging.config
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from portal import cli_export
from portal.db import make_engine, make_session_factory, run_unit_of_work
from portal.errors import AlreadyExists, ImportProblem, InvalidInput
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
    _check_data_keys(settings, warn=False)  # the app warns in its log as it starts
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


def _check_data_keys(settings: Settings, *, warn: bool = True) -> None:
    """Stop with a message, before serving or working, when the data keys cannot open this
    database's sealed answers (portal.datakeys)."""
    from portal.datakeys import check_keyring
    from portal.sealing import DataKeyError

    sessions = _sessions(settings)
    try:
        run_unit_of_work(sessions, check_keyring)
    except DataKeyError as exc:
        sys.exit(f"portal: {exc}")
    finally:
        sessions.kw["bind"].dispose()
    if warn and settings.data_key_from_var:
        print(
            f"portal: warning: PORTAL_DATA_KEY is unset, so sensitive answers are sealed with the key in {settings.var_dir / 'data_key'}. "
            "In production set PORTAL_DATA_KEY and keep a copy of the key elsewhere.",
            file=sys.stderr,
        )


def cmd_data_rekey(args: argparse.Namespace) -> int:
    from portal.datakeys import Rekeyed, rekey_batch
    from portal.registrations.uploads import rekey_files_batch

    settings = _settings()
    _check_data_keys(settings)
    sessions = _sessions(settings)
    answers = files = 0
    try:
        after: int | None = 0
        while after is not None:
            done, after = run_unit_of_work(sessions, rekey_batch, after_id=after)
            answers += done.answers
        # Files by their own ids: a sealed file's registration may hold no sealed answers.
        after = 0
        while after is not None:
            done, after = run_unit_of_work(sessions, rekey_files_batch, settings.upload_directory, after_id=after)
            files += done.files
    finally:
        sessions.kw["bind"].dispose()
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
    return make_session_factory(
        make_engine(settings.database_url, pool_size=2), keyring=settings.keyring, upload_directory=settings.upload_directory,
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from portal import demo

    settings = _settings()
    sessions = _sessions(settings)
    if args.if_empty and run_unit_of_work(sessions, demo.has_data, write=False):
        print("demo skipped: the database already has programmes or events")
        return 0
    report, added = run_unit_of_work(sessions, demo.load, default_timezone=settings.timezone, retention=settings.retention)
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


def cmd_retention_run(args: argparse.Namespace) -> int:
    from portal.models import AuditActor
    from portal.registrations.retention import due_counts, run_retention
    from portal.templating import plural

    settings = _settings()
    # No data keys needed: anonymising removes sealed answers without opening them.
    engine = make_engine(settings.database_url, pool_size=1)
    sessions = make_session_factory(engine, keyring=settings.keyring)
    try:
        if args.dry_run:
            due = run_unit_of_work(sessions, due_counts, None, settings.retention, write=False)
            for item in due:
                print(f"{item.slug}: {plural(item.count, 'registration')} would be anonymised (kept {item.retention.period.iso()} after the event)")
            print(f"dry run: {plural(sum(i.count for i in due), 'registration')} in {plural(len(due), 'event')} past retention; nothing was changed")
            return 0
        run = run_retention(sessions, settings.retention, settings.upload_directory, by=AuditActor.COMMAND_LINE)
    finally:
        engine.dispose()
    for slug, count in run.counts.items():
        print(f"{slug}: {plural(count, 'registration')} anonymised")
    print(f"retention: {plural(run.total, 'registration')} anonymised in {plural(len(run.counts), 'event')}")
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
        from portal.registrations.retention import run_retention
        from portal.registrations.uploads import sweep_orphans
        from portal.subscriptions.service import forget_unconfirmed
        from portal.templating import plural

        run_unit_of_work(sessions, sweep_orphans, settings.upload_directory, write=False)
        run_unit_of_work(sessions, forget_unconfirmed, write=True)
        # Each housekeeping round (every ten minutes): finding nothing due is one query.
        done = run_retention(sessions, settings.retention, settings.upload_directory)
        if done.total:
            log.info("worker: retention anonymised %s in %s", plural(done.total, "registration"), plural(len(done.counts), "event"))

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
            make_session_factory(engine, keyring=settings.keyring), organisers.add_organiser, args.email, password, name=args.name,
            is_admin=args.admin, role=args.role, programmes=args.programme or [], write=True,
        )
    except (InvalidInput, AlreadyExists) as exc:
        print(f"portal organiser add: {exc.message}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    if added.is_admin:
        print(f"added admin {added.email}")
    else:
        held = f" of {', '.join(args.programme)}" if added.is_programme_manager else ""
        kind = {"programme_manager": "programme manager", "door": "door volunteer"}.get(added.role.value, "organiser")
        print(f"added {kind}{held} {added.email}")
    return 0


def cmd_export_roster(args: argparse.Namespace) -> int:
    return cli_export.export_roster(args, _settings())


def cmd_export_form(args: argparse.Namespace) -> int:
    return cli_export.export_form(args, _settings())


def cmd_export_certificates(args: argparse.Namespace) -> int:
    return cli_export.export_certificates(args, _settings())


def cmd_export_badges(args: argparse.Namespace) -> int:
    return cli_export.export_badges(args, _settings())


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

    retention = sub.add_parser("retention", help="registrations kept only for their retention period")
    retention_sub = retention.add_subparsers(dest="retention_command", required=True)
    retention_run = retention_sub.add_parser("run", help="anonymise the registrations past their retention period (portal worker does it too)")
    retention_run.add_argument("--dry-run", action="store_true", help="say per event how many would be anonymised; change nothing")
    retention_run.set_defaults(func=cmd_retention_run)

    organiser = sub.add_parser("organiser", help="organiser accounts")
    organiser_sub = organiser.add_subparsers(dest="organiser_command", required=True)
    add = organiser_sub.add_parser("add", help="add an organiser; the password is asked for twice, or read from stdin")
    add.add_argument("email")
    add.add_argument("--admin", action="store_true", help="may do everything, and manage organiser accounts")
    add.add_argument(
        "--role", choices=["organiser", "programme-manager", "door"], default="organiser",
        help="organiser: every event; programme-manager: only their programmes' events (give --programme); "
        "door: the door pages only, names and organisations without answers or emails",
    )
    add.add_argument("--programme", action="append", metavar="CODE", help="a programme a programme manager runs; repeat for more")
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
    roster.add_argument(
        "--include-sensitive", action="append", metavar="KEY",
        help="include the answers to this sensitive question (its key; repeat for more); they are left out otherwise",
    )
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
