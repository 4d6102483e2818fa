"""The `portal` command."""

from __future__ import annotations

import argparse
import json
import logging
import logging.config
import sys
import time
from pathlib import Path

import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from portal import demo, migrate
from portal.db import make_engine, make_session_factory, run_unit_of_work
from portal.errors import ImportProblem
from portal.logs import log_config
from portal.services.catalogue import import_data
from portal.services.outbox import deliver_due, transport_for
from portal.settings import Settings, SettingsError

log = logging.getLogger("portal")


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        sys.exit(f"portal: {exc}")


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings()
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


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = _settings()
    migrate.upgrade(settings.database_url, args.revision)
    print(f"database at {_safe_url(settings.database_url)} is at revision {args.revision}")
    return 0


def cmd_db_downgrade(args: argparse.Namespace) -> int:
    settings = _settings()
    migrate.downgrade(settings.database_url, args.revision)
    print(f"database downgraded to {args.revision}")
    return 0


def _sessions(settings: Settings) -> sessionmaker[Session]:
    return make_session_factory(make_engine(settings.database_url, pool_size=2))


def cmd_demo(args: argparse.Namespace) -> int:
    settings = _settings()
    sessions = _sessions(settings)
    if args.if_empty and run_unit_of_work(sessions, demo.has_data, write=False):
        print("demo skipped: the database already has programmes or events")
        return 0
    report, added = run_unit_of_work(sessions, demo.load, default_timezone=settings.timezone)
    print(f"demo loaded: {report}; {added} placeholder registrations added")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
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
    settings = _settings()
    logging.config.dictConfig(log_config())
    sessions = _sessions(settings)
    transport = transport_for(settings.smtp_url)
    while True:
        sent, failed = deliver_due(sessions, transport, settings.mail_from)
        if sent or failed:
            log.info("worker: %d sent, %d failed", sent, failed)
        if args.once:
            return 0
        if not sent:
            time.sleep(args.interval)


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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
